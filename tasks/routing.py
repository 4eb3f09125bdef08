"""The routing rules, each written once (docs/engine.md, "Routing"): what a task's routing
fields may hold, who may take a task, and in which order the pick offers tasks.

Pure rules on values: no database access. The pick (`tasks.engine.tasks_pick`), the
services that create and change tasks and people, and the checks of the invariants use
them.
"""

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import MAX_PRIORITY, SKILL_MAX_LENGTH

# A skill is a short name: lower-case letters and digits, with single hyphens or
# underscores inside ("welding", "x-ray", "class_2").
_SKILL = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
MAX_SKILLS_PER_PERSON = 20
# The longest time limit a task may have (30 days).
MAX_HANDLE_SECONDS = 30 * 24 * 3600


# --- values ---


def skill_clean(value) -> str | None:
    """A task's skill as stored: None for "anyone" (None or blank), else the name stripped
    and in lower case. Raises ValidationError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("A skill is a short name (text) or null.")
    name = value.strip().lower()
    if not name:
        return None
    if len(name) > SKILL_MAX_LENGTH:
        raise ValidationError(f"A skill is at most {SKILL_MAX_LENGTH} characters long.")
    if not _SKILL.fullmatch(name):
        raise ValidationError(
            f"{value!r} is not a skill name: use letters, digits, and single hyphens or "
            "underscores between them (such as 'welding' or 'x-ray')."
        )
    return name


def skills_clean(values) -> list[str]:
    """A person's skills as stored: names (see `skill_clean`), each once, sorted. Raises
    ValidationError for a value that is not a list of names, or too many."""
    if not isinstance(values, list | tuple):
        raise ValidationError('Skills are a list of names, such as ["welding"].')
    names = set()
    for value in values:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationError("A skill may not be blank.")
        names.add(skill_clean(value))
    if len(names) > MAX_SKILLS_PER_PERSON:
        raise ValidationError(f"A person has at most {MAX_SKILLS_PER_PERSON} skills.")
    return sorted(names)  # type: ignore[arg-type]  # None was refused above


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def routing_problems(
    *, priority=0, skill=None, max_handle_seconds=None, expires_at=None, now: datetime | None
) -> dict[str, list[str]]:
    """What is wrong with a task's routing fields, by field (empty when they are good): the
    one rule, wherever tasks come from or change (API, admin, import). `now` is the
    database's clock (needed when `expires_at` is given): `expires_at` must be after it."""
    problems: dict[str, list[str]] = {}
    if not _whole_number(priority) or not 0 <= priority <= MAX_PRIORITY:
        problems["priority"] = [f"A priority is a whole number from 0 to {MAX_PRIORITY}."]
    try:
        skill_clean(skill)
    except ValidationError as exc:
        problems["skill"] = exc.messages
    if max_handle_seconds is not None and (
        not _whole_number(max_handle_seconds) or not 0 <= max_handle_seconds <= MAX_HANDLE_SECONDS
    ):
        problems["max_handle_seconds"] = [
            f"A time limit is a whole number of seconds from 0 (none) to {MAX_HANDLE_SECONDS}, "
            "or null for the default."
        ]
    if expires_at is not None:
        if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
            problems["expires_at"] = ["Give a date and time with its time zone."]
        elif now is not None and expires_at <= now:
            problems["expires_at"] = ["The expiry must be in the future."]
    return problems


# --- who may take a task ---


def relax_cutoff(now: datetime) -> datetime | None:
    """Tasks created at or before this may go to anyone, whatever their skill
    (QC_SKILL_RELAX_AFTER); None when skills never relax."""
    relax = settings.QC_SKILL_RELAX_AFTER
    return now - timedelta(seconds=relax) if relax else None


def may_take(skills, *, task_skill: str | None, created_at: datetime, cutoff) -> bool:
    """Whether a person with `skills` may be given a task needing `task_skill`, created at
    `created_at`, when `cutoff` is `relax_cutoff(now)`. (Declines are the exclusions'.)"""
    return (
        task_skill is None or task_skill in skills or (cutoff is not None and created_at <= cutoff)
    )


# --- the order of the queue ---


def effective_priority(priority: int, created_at: datetime, now: datetime) -> int:
    """A pending task's priority, raised one level for every QC_PRIORITY_AGING seconds it
    has waited (since `created_at`: a task put back in the queue keeps its age), up to
    MAX_PRIORITY. The queue's order is this, highest first, then `created_at`, then id."""
    return aged_priority(priority, (now - created_at).total_seconds())


def aged_priority(priority: int, waited: float) -> int:
    """`effective_priority` of a task that has waited `waited` seconds."""
    aging = settings.QC_PRIORITY_AGING
    if not aging or priority >= MAX_PRIORITY:
        return priority
    return min(MAX_PRIORITY, priority + max(0, int(waited // aging)))
