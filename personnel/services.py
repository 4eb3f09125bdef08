"""State changes of QC personnel: accounts, logins and API tokens, and work sessions.

Lock order as in `tasks.services`: the person row, then task rows.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from qcproject import sql
from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict, Forbidden, NotFound
from tasks.models import AssignmentSource, AuditAction, EndReason, Task, TaskStatus
from tasks.services import _audit, _hand_over, _sign_out

from . import tokens
from .models import ApiToken, Person

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


# --- logins and API tokens ----------------------------------------------------------------------
# Who may change a login: a supervisor with `personnel.manage_login` (the interfaces check
# it), for a QC person whose user is not staff; only a superuser changes a staff user's
# login, or a supervisor could take over another supervisor's account.


@dataclass
class IssuedToken:
    token: str  # shown once; only its digest is stored
    api_token: ApiToken

    @property
    def expires_at(self):
        return self.api_token.expires_at


def token_issue(*, user) -> IssuedToken:
    """Issue a new API token for `user` (an authenticated, active user), valid for
    QC_TOKEN_TTL from now and pushed out by use; the user's last sign-in is now. The user's
    expired tokens go at the same time. Returns the token (the only time it exists outside
    the client) and its row."""
    token = tokens.token_new()
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.filter(user=user, expires_at__lte=now).delete()
        user.last_login = now
        user.save(update_fields=["last_login"])
        api_token = ApiToken.objects.create(
            user=user,
            digest=tokens.token_digest(token),
            prefix=token[: tokens.PREFIX_LENGTH],
            password_stamp=tokens.password_stamp(user.password),
            expires_at=now + tokens.token_ttl(),
        )
    return IssuedToken(token=token, api_token=api_token)


def token_revoke(*, api_token: ApiToken) -> None:
    """End one token: its holder signs out (`POST /auth/logout`). Revoking a token that is
    already gone changes nothing."""
    ApiToken.objects.filter(pk=api_token.pk).delete()
    logger.info(
        "API token %s… of user %s revoked by its holder", api_token.prefix, api_token.user_id
    )


def person_tokens(*, person_id: int) -> list[ApiToken]:
    """The person's unexpired API tokens, newest first. Raises NotFound."""
    person = _person_with_user(person_id)
    return list(ApiToken.objects.live().filter(user_id=person.user_id))


@retry_transaction
def person_tokens_revoke(*, actor, person_id: int, token_id: int | None = None) -> int:
    """A supervisor ends one of a person's API tokens (`token_id`) or all of them, audited
    (REVOKE_TOKENS, naming each token by its prefix). Returns how many ended. Raises
    NotFound for an unknown person, or a token that is not theirs."""
    with transaction.atomic():
        person = _person_with_user(person_id)
        revoked = ApiToken.objects.filter(user_id=person.user_id)
        if token_id is not None:
            revoked = revoked.filter(pk=token_id)
            if not revoked.exists():
                raise NotFound(f"{person.name} has no API token {token_id}.")
        return _revoke(actor, revoked)


@retry_transaction
def api_tokens_revoke(*, actor, token_ids) -> int:
    """A supervisor ends the given API tokens, whoever holds them (the admin's token list),
    audited once per holder. Returns how many ended."""
    with transaction.atomic():
        return _revoke(actor, ApiToken.objects.filter(pk__in=list(token_ids)))


def user_tokens_revoke(*, actor, user) -> int:
    """End every API token of `user` (a login deactivated in the admin's user list), in the
    caller's transaction, audited. Returns how many ended."""
    return _revoke(actor, ApiToken.objects.filter(user=user))


def _revoke(actor, revoked) -> int:
    """Delete the tokens of a queryset, with an audit event per holder."""
    by_user: dict[int, list[str]] = {}
    for user_id, prefix in revoked.order_by("user_id", "id").values_list("user_id", "prefix"):
        by_user.setdefault(user_id, []).append(prefix)
    if not by_user:
        return 0
    revoked.delete()
    people = dict(Person.objects.filter(user_id__in=by_user).values_list("user_id", "id"))
    usernames = dict(get_user_model().objects.filter(pk__in=by_user).values_list("pk", "username"))
    for user_id, prefixes in by_user.items():
        listed = ", ".join(f"{p}…" for p in prefixes)
        _audit(
            actor,
            AuditAction.REVOKE_TOKENS,
            person_id=people.get(user_id),
            detail=f"{len(prefixes)} API token(s) of {usernames[user_id]}: {listed}",
        )
    return sum(len(p) for p in by_user.values())


@retry_transaction
def account_set_password(*, actor, person_id: int, password: str) -> Person:
    """A supervisor sets a QC person's password, audited (SET_PASSWORD; the password is
    not recorded). Every API token and browser session of the person ends with the old
    password. Raises NotFound, Forbidden (a staff login, unless the actor is a superuser),
    ValidationError keyed `password` for a password the validators refuse."""
    with transaction.atomic():
        person = _lock_account(actor, person_id)
        user = person.user
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
        user.save(update_fields=["password"])
        ApiToken.objects.filter(user=user).delete()
        _audit(actor, AuditAction.SET_PASSWORD, person_id=person.pk)
    return person


@retry_transaction
def account_deactivate(*, actor, person_id: int) -> Person:
    """A supervisor deactivates a QC person's login, audited (DEACTIVATE, with the task
    that went back to the queue): a work session in progress ends (SIGNED_OUT) and its
    task goes back to the queue; every API token is deleted (a reactivated login does not
    bring them back); browser sessions stop working. Locks the person, then their task.
    Raises NotFound, Forbidden (a staff login), Conflict (already deactivated)."""
    with transaction.atomic():
        # Serialises with the person's own complete, heartbeat and logout.
        person = _lock_account(actor, person_id)
        user = person.user
        if not user.is_active:
            raise Conflict(f"{person.name}'s login is already deactivated.", code="login_inactive")
        released = (
            _sign_out([person.pk], reason=EndReason.SIGNED_OUT) if person.is_logged_in else []
        )
        user.is_active = False
        user.save(update_fields=["is_active"])
        ApiToken.objects.filter(user=user).delete()
        _audit(
            actor,
            AuditAction.DEACTIVATE,
            person_id=person.pk,
            task_id=released[0] if released else None,
        )
    return person


@retry_transaction
def account_reactivate(*, actor, person_id: int) -> Person:
    """A supervisor reactivates a QC person's login, audited (REACTIVATE). The person signs
    in again with their password; old tokens stay ended. Raises NotFound, Forbidden (a
    staff login), Conflict (already active)."""
    with transaction.atomic():
        person = _lock_account(actor, person_id)
        user = person.user
        if user.is_active:
            raise Conflict(f"{person.name}'s login is active already.", code="login_active")
        user.is_active = True
        user.save(update_fields=["is_active"])
        _audit(actor, AuditAction.REACTIVATE, person_id=person.pk)
    return person


def account_get(*, person_id: int) -> Person:
    """The person with their user loaded. Raises NotFound."""
    return _person_with_user(person_id)


def login_unlock(*, actor, attempt_ids) -> list[tuple[str, str]]:
    """A supervisor unlocks sign-ins locked by failures (django-axes' access attempts),
    audited (UNLOCK, naming the username and address). Every attempt recorded for the
    same username and address goes, whatever browser made it. Returns the (username,
    address) pairs unlocked."""
    from axes.models import AccessAttempt

    with transaction.atomic():
        pairs = sorted(
            set(
                AccessAttempt.objects.filter(pk__in=list(attempt_ids)).values_list(
                    "username", "ip_address"
                )
            ),
            key=lambda pair: (pair[0] or "", pair[1] or ""),
        )
        for username, address in pairs:
            AccessAttempt.objects.filter(username=username, ip_address=address).delete()
            person_id = (
                Person.objects.filter(user__username=username).values_list("id", flat=True).first()
            )
            _audit(
                actor,
                AuditAction.UNLOCK,
                person_id=person_id,
                detail=f"{username or '(no username)'} from {address or '(no address)'}",
            )
    return pairs


def _person_with_user(person_id: int) -> Person:
    person = Person.objects.select_related("user").filter(pk=person_id).first()
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    return person


def _lock_account(actor, person_id: int) -> Person:
    """Lock the person's row (first in the lock order) and their user's, with the user
    loaded; refuse a staff login to anyone but a superuser."""
    person = Person.objects.select_for_update().select_related("user").filter(pk=person_id).first()
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    user = person.user
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise Forbidden(
            f"{person.name}'s login is a staff login: only a superuser changes it (admin: Users).",
            code="staff_login",
        )
    return person


def tokens_delete_expired() -> int:
    """Delete every expired API token (they authenticate nothing; `manage.py
    clear_expired_tokens`, run daily). Returns how many went."""
    deleted, _ = ApiToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
