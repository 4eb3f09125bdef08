"""QC personnel's accounts: a login and the person linked to it, and their skills.

Work sessions (sign-in, heartbeat, sign-out) are the engine's: `tasks.sessions`.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict
from tasks import engine, routing
from tasks.models import AuditAction, Task

from .models import NAME_MAX_LENGTH, Person


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
