"""QC personnel's accounts: a login and the person linked to it.

Work sessions (sign-in, heartbeat, sign-out) are the engine's: `tasks.sessions`.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

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
