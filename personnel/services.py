"""QC personnel's accounts: a login and the person linked to it, their skills, API tokens,
and what a supervisor does to a login (set its password, deactivate and reactivate it, end
its tokens, unlock it), each audited.

Work sessions (sign-in, heartbeat, sign-out) are the engine's: `tasks.sessions`; ending a
login's session here uses the engine's building blocks, in this service's transaction.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from qcproject.db import db_now, retry_transaction
from qcproject.exceptions import Conflict, Forbidden, NotFound
from tasks import engine, routing
from tasks.models import AuditAction, EndReason, Task

from . import tokens
from .models import NAME_MAX_LENGTH, ApiToken, Person

logger = logging.getLogger(__name__)


def person_validate_new(*, name: str, username: str, password: str) -> None:
    """Raise ValidationError, keyed by field, unless these make a valid new QC person."""
    errors: dict[str, list[str]] = {}
    name_max = NAME_MAX_LENGTH
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
    now = db_now()  # the database's clock, which judges expiry (personnel.tokens)
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
        engine.audit(
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
        engine.audit(actor, AuditAction.SET_PASSWORD, person_id=person.pk)
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
            engine.people_sign_out([person.pk], reason=EndReason.SIGNED_OUT)
            if person.is_logged_in
            else []
        )
        user.is_active = False
        user.save(update_fields=["is_active"])
        ApiToken.objects.filter(user=user).delete()
        engine.audit(
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
        engine.audit(actor, AuditAction.REACTIVATE, person_id=person.pk)
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
            engine.audit(
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
    """Lock the person's row (first in the lock order, `tasks.engine.person_lock`), then
    their user's, with the user loaded; refuse a staff login to anyone but a superuser."""
    person = engine.person_lock(person_id)
    user = get_user_model().objects.select_for_update().get(pk=person.user_id)
    Person._meta.get_field("user").set_cached_value(person, user)
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise Forbidden(
            f"{person.name}'s login is a staff login: only a superuser changes it (admin: Users).",
            code="staff_login",
        )
    return person


def tokens_delete_expired() -> int:
    """Delete every expired API token (they authenticate nothing; `manage.py
    clear_expired_tokens`, run daily). Returns how many went."""
    deleted, _ = ApiToken.objects.filter(expires_at__lte=Now()).delete()
    return deleted


@retry_transaction
def person_skills_set(*, actor, person_id: int, skills) -> Person:
    """A supervisor sets a person's skills (replacing them), recorded in the audit trail.

    The skills are short names (`tasks.routing.skills_clean`). A skill the person's task in
    progress needs cannot be taken away while they hold it (release the task first), so a
    task in progress always goes with its skill (docs/engine.md, "Invariants"). Locks the
    person (lock order: docs/engine.md), then reads their task. Returns the person.

    Raises ValidationError (field errors), NotFound, Conflict.
    """
    try:
        cleaned = routing.skills_clean(skills)
    except ValidationError as exc:
        raise ValidationError({"skills": exc.messages}) from exc
    with transaction.atomic():
        # Serialises with the pick, which reads the person's skills under this lock.
        person = engine.person_lock(person_id)
        before = list(person.skills or ())
        if cleaned == before:
            return person
        task = Task.objects.filter(in_progress_person=person.pk).first()
        if task is not None and task.skill and task.skill not in cleaned and task.skill in before:
            raise Conflict(
                f"{person.name} is working on task {task.pk}, which needs '{task.skill}': put "
                "it back in the queue first, or keep the skill.",
                code="skill_in_use",
            )
        Person.objects.filter(pk=person.pk).update(skills=cleaned)
        person.skills = cleaned
        engine.audit(
            actor,
            AuditAction.SKILLS,
            person_id=person.pk,
            detail=f"{', '.join(before) or 'none'} → {', '.join(cleaned) or 'none'}",
        )
    return person
