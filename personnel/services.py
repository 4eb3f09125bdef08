"""State changes of QC personnel: accounts and work sessions.

Lock order as in `tasks.services`: the person row, then task rows.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from qcproject import sql
from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict, NotFound
from tasks.models import AssignmentSource, AuditAction, EndReason, Task, TaskStatus
from tasks.services import _audit, _hand_over, _sign_out

from .models import Person

logger = logging.getLogger(__name__)


def person_validate_new(*, name: str, username: str, password: str) -> None:
    """Raise ValidationError, keyed by field, unless these make a valid new QC person."""
    errors: dict[str, list[str]] = {}
    name_max = Person._meta.get_field("name").max_length
    if not name.strip():
        errors["name"] = ["This field may not be blank."]
    elif len(name.strip()) > name_max:
        errors["name"] = [f"Ensure this field has no more than {name_max} characters."]
    user = get_user_model()(username=username)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors["username"] = exc.message_dict.get("username", exc.messages)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)


def person_create(*, name: str, username: str, password: str) -> Person:
    """Create a login (a non-staff user) and the QC person linked to it, together.

    Raises ValidationError with field errors for a blank name, a taken or invalid username
    or a password the validators refuse.
    """
    person_validate_new(name=name, username=username, password=password)
    user = get_user_model()(username=username)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            person = Person.objects.create(user=user, name=name.strip())
    except IntegrityError as exc:  # the same username, created a moment earlier
        raise ValidationError({"username": ["A user with that username already exists."]}) from exc
    return person


def _lock_person(person_id: int) -> Person:
    """Lock a person row (first in the lock order), with `is_live` set."""
    person = sql.person_lock(person_id)
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    return person


@retry_transaction
def person_login(*, person_id: int) -> Person:
    """Start (or resume) the person's work session and give them a task at once if any waits.

    Signing in again while signed in keeps the session and the task. A session that expired
    but was not yet swept ends first (its task back in the queue) and a new one starts.
    Locks the person, then a pending task (SKIP LOCKED). Returns the person as signed in,
    with `current_task`. Raises NotFound.
    """
    with transaction.atomic():
        # Serialises with the sweep, logout, complete and the assigner on this person.
        return _sign_in(_lock_person(person_id))


@retry_transaction
def person_login_with_token(*, token_key: str, person_id: int | None = None) -> Person | None:
    """`person_login` for the holder of API token `key` (an active user who is a QC person,
    and `person_id` if given), found by the same statement that locks them. Returns None
    when there is no such person, which the caller answers through the API's
    authentication and permissions (401, 403, a supervisor signing someone in)."""
    with transaction.atomic():
        person = sql.person_lock(person_id, token_key=token_key)
        return None if person is None else _sign_in(person)


def _sign_in(person: Person) -> Person:
    """The writes of a sign-in, for a person whose row the caller has locked; returns the
    person as they are now, with `current_task`.

    The answer is built from what this transaction wrote rather than read again after it
    (a sign-in is one statement cheaper, a seventh of its cost at a shift start, `make
    bench`): every timestamp written is the database's clock read by the lock (`db_now`).
    """
    now = person.db_now
    if person.is_logged_in and not person.is_live:
        _sign_out([person.pk], reason=EndReason.STALE)
        person.is_logged_in = person.is_busy = False
    if person.is_busy:  # signed in again: the session and the task go on
        sql.person_sign_in(person, now=now, new_session=False, busy=False)
        return person_get(person_id=person.pk)
    # The task first (lock order: person, then task), so that one UPDATE writes the
    # session and the busy flag together.
    task = sql.task_lock_next_pending()
    sql.person_sign_in(person, now=now, new_session=not person.is_logged_in, busy=bool(task))
    if task is not None:
        _hand_over([(person.pk, task.pk)], source=AssignmentSource.LOGIN, now=now)
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
        person = _lock_person(person_id)
        released = _sign_out([person.pk], reason=EndReason.LOGOUT) if person.is_logged_in else []
    return LogoutResult(person=person_get(person_id=person_id), released=released)


class SessionExpired(Conflict):
    code = "session_expired"


def person_heartbeat(*, person_id: int) -> Person:
    """Keep a live session alive: one UPDATE on the database's clock.

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


def person_heartbeat_with_token(*, person_id: int, token_key: str) -> Person | None:
    """A heartbeat from the person's own client, authenticated by its API token, in one
    statement: the session is refreshed only if the token is this person's (an active
    user's) and the session is live. Returns the person, or None in every other case,
    which the caller answers through the API's authentication, permissions and
    `person_heartbeat` (401, 403, 404, 409, a supervisor acting for someone)."""
    if sql.person_heartbeat_with_token(person_id, token_key):
        return person_get(person_id=person_id)
    return None


@retry_transaction
def _heartbeat_refused(person_id: int) -> str:
    """Sign out an expired session on the spot; return how the session ended ("" if never)."""
    with transaction.atomic():
        # The sweep may be at this person right now; the lock makes it one or the other.
        person = _lock_person(person_id)
        if person.is_logged_in and not person.is_live:
            _sign_out([person.pk], reason=EndReason.STALE)
            return EndReason.STALE
        if person.is_logged_in:
            # Revived by a sign-in that raced this heartbeat; this client's session is over.
            return EndReason.STALE
        return person.signed_out_reason


def person_get(*, person_id: int) -> Person:
    """The person with `current_task` set (their in-progress task or None).

    One query (the answer to every heartbeat, sign-in and complete): the person and, through
    the unique `in_progress_person`, their task. Raises NotFound for an unknown id.
    """
    person = sql.person_with_task(person_id)
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    return person


def person_list_with_tasks(queryset) -> list[Person]:
    """Evaluate a person queryset, setting `current_task` on each with one more query."""
    people = list(queryset)
    tasks = Task.objects.in_progress_for([p.pk for p in people])
    by_person = {t.assigned_to_id: t for t in tasks}
    for p in people:
        p.current_task = by_person.get(p.pk)
    return people


@retry_transaction
def person_sign_out(*, actor, person_id: int) -> list[int]:
    """A supervisor signs a person out now; their task goes back to the queue (SIGNED_OUT).

    Returns the released task ids. Raises NotFound, Conflict (not signed in).
    """
    with transaction.atomic():
        # Serialises with the person's own complete, heartbeat and logout.
        person = Person.objects.select_for_update().filter(pk=person_id).first()
        if person is None:
            raise NotFound(f"Person {person_id} does not exist.")
        if not person.is_logged_in:
            raise Conflict(f"{person.name} is not signed in.", code="person_not_signed_in")
        released = _sign_out([person.pk], reason=EndReason.SIGNED_OUT)
        _audit(
            actor,
            AuditAction.SIGN_OUT,
            person_id=person.pk,
            task_id=released[0] if released else None,
        )
    return released
