"""Work sessions: sign-in, heartbeat, sign-out (the person's own, or a supervisor's).

The states of a session and what moves it between them are in docs/engine.md ("Work
sessions"); the stale sweep is the assigner's (`tasks.assigner`). Each service is one
transaction that locks the person row first (lock order: docs/engine.md), and is run again
whole on deadlock or lock wait timeout (`retry_transaction`). The request layer decides who
may act for whom; the services act.
"""

from dataclasses import dataclass

from django.db import transaction

from events import services as event_services
from events.models import EventType
from personnel.models import Person
from personnel.selectors import person_get
from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict

from . import engine, sql
from .models import AssignmentSource, AuditAction, EndReason, TaskStatus


@retry_transaction
def person_login(*, person_id: int) -> Person:
    """Start (or resume) the person's work session and give them a task at once if any waits.

    Signing in again while signed in keeps the session and the task. A session that expired
    but was not yet swept ends first (its task back in the queue) and a new one starts. A
    new session within QC_RECONNECT_GRACE of a stale one gets the task that session
    released, if it still waits; otherwise the pick's best task for the person. Locks the
    person, then a pending task (SKIP LOCKED). Returns the person as signed in,
    with `current_task`. Raises NotFound.

    The answer is built from what this transaction wrote rather than read again after it
    (a sign-in is one statement cheaper, which counts at a shift start): every timestamp
    written is the database's clock read by the lock (`db_now`).
    """
    with transaction.atomic():
        # Serialises with the sweep, logout, complete and the assigner on this person.
        person = engine.person_lock(person_id)
        now = person.db_now
        released: list[int] = []
        if person.is_logged_in and not person.is_live:
            released = engine.people_sign_out([person.pk], reason=EndReason.STALE)
            person.is_logged_in = person.is_busy = False
            if released:  # the answer is built from the rows as written (rare: read them)
                person.refresh_from_db(
                    fields=["last_release_task_id", "last_release_reason", "last_release_at"]
                )
        if person.is_busy:  # signed in again: the session and the task go on
            sql.person_sign_in(person, now=now, new_session=False, busy=False)
            return person_get(person_id=person.pk)
        # The task first (lock order: person, then task), so that one UPDATE writes the
        # session and the busy flag together. Back from a stale session within the grace,
        # the person gets the task it released if it still waits for them.
        row = engine.reconnect_row(person, released=released) if not person.is_logged_in else None
        if row is None:
            row = engine.tasks_pick([engine.Taker.of(person)], now=now).get(person.pk)
        task = sql.task_from_row(row) if row is not None else None
        new_session = not person.is_logged_in
        sql.person_sign_in(person, now=now, new_session=new_session, busy=bool(task))
        if new_session:
            # Event: under the person lock (docs/events.md).
            event_services.event_emit(EventType.PERSON_SIGNED_IN, person_id=person.pk)
        if task is not None:
            engine.tasks_hand_over(
                [(person.pk, task.pk)],
                source=AssignmentSource.LOGIN,
                external_ids={task.pk: task.external_id},
                now=now,
            )
            task.status, task.assigned_to = TaskStatus.IN_PROGRESS, person
            task.in_progress_person = person.pk
            task.first_assigned_at = task.first_assigned_at or now
        person.current_task = task
        return person


@dataclass
class LogoutResult:
    person: Person
    released: list[int]


@retry_transaction
def person_logout(*, person_id: int) -> LogoutResult:
    """End the person's session; their in-progress task goes back to the queue (LOGOUT).

    Signing out when signed out changes nothing. Locks the person, then their task.
    """
    with transaction.atomic():
        # Serialises with complete: a task is either completed or released, never both.
        person = engine.person_lock(person_id)
        released = (
            engine.people_sign_out([person.pk], reason=EndReason.LOGOUT)
            if person.is_logged_in
            else []
        )
    return LogoutResult(person=person_get(person_id=person_id), released=released)


class SessionExpired(Conflict):
    code = "session_expired"


def person_heartbeat(*, person_id: int) -> Person:
    """Keep a live session alive: one UPDATE on the database's clock; returns the person
    with their current task.

    Raises NotFound for an unknown person and SessionExpired (409) when the session was
    never started, was ended, or expired; an expired session not yet swept is signed out
    here and now, so its task is back in the queue when the client hears of it.
    """
    if sql.person_heartbeat(person_id):
        return person_get(person_id=person_id)
    if _heartbeat_refused(person_id) == EndReason.STALE:
        raise SessionExpired(
            "The work session expired; its task went back to the queue. Start work again."
        )
    raise SessionExpired(
        "No work session is active. Start work again to get a task.", code="no_session"
    )


@retry_transaction
def _heartbeat_refused(person_id: int) -> str:
    """Sign out an expired session on the spot; return how the session ended ("" if never)."""
    with transaction.atomic():
        # The sweep may be at this person right now; the lock makes it one or the other.
        person = engine.person_lock(person_id)
        if person.is_logged_in and not person.is_live:
            engine.people_sign_out([person.pk], reason=EndReason.STALE)
            return EndReason.STALE
        if person.is_logged_in:
            # Revived by a sign-in that raced this heartbeat; this client's session is over.
            return EndReason.STALE
        return person.signed_out_reason


@retry_transaction
def person_sign_out(*, actor, person_id: int) -> list[int]:
    """A supervisor signs a person out now; their task goes back to the queue (SIGNED_OUT),
    recorded in the audit trail.

    Returns the released task ids. Raises NotFound, Conflict (not signed in).
    """
    with transaction.atomic():
        # Serialises with the person's own complete, heartbeat and logout.
        person = engine.person_lock(person_id)
        if not person.is_logged_in:
            raise Conflict(f"{person.name} is not signed in.", code="person_not_signed_in")
        released = engine.people_sign_out([person.pk], reason=EndReason.SIGNED_OUT)
        engine.audit(
            actor,
            AuditAction.SIGN_OUT,
            person_id=person.pk,
            task_id=released[0] if released else None,
        )
    return released
