"""The rules of outcomes, each written once (docs/engine.md, "Outcomes"): what a verdict may
say, when a task has had its reviews, what its final outcome is, and which tasks get an
audit review.

A complete is a review: the person's verdict (pass or fail, or none unless
QC_REQUIRE_OUTCOME), notes and defect codes from the catalogue (`DefectCode`) go on the
assignment that completed. A task needs `reviews_required` reviews, each by a different
person; their verdicts make its final outcome, or a dispute when a pass meets a fail.
"""

import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import MAX_REVIEWS, NOTES_MAX_LENGTH, DefectCode, Outcome, TaskStatus

# The most defect codes one review may log.
MAX_DEFECTS = 20


@dataclass(frozen=True)
class Verdict:
    """A review as a complete gives it: `outcome` is "pass", "fail" or "" (none given)."""

    outcome: str = ""
    notes: str = ""
    defects: tuple[str, ...] = ()


def verdict_clean(outcome=None, notes=None, defects=None) -> Verdict:
    """The verdict of a complete, checked: `outcome` "pass" or "fail" (required with
    QC_REQUIRE_OUTCOME), `notes` at most NOTES_MAX_LENGTH characters, `defects` active codes
    of the catalogue (given in any case; each once). Raises ValidationError with field
    errors; reads the catalogue only when defect codes are given."""
    errors: dict[str, list[str]] = {}
    if outcome in (None, ""):
        outcome = ""
        if settings.QC_REQUIRE_OUTCOME:
            errors["outcome"] = ['Say "pass" or "fail": this site requires a verdict.']
    elif outcome not in Outcome.values:
        errors["outcome"] = ['The outcome is "pass" or "fail".']
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX_LENGTH:
        errors["notes"] = [f"At most {NOTES_MAX_LENGTH} characters."]
    codes = _codes(defects or (), errors)
    if errors:
        raise ValidationError(errors)
    return Verdict(outcome=outcome, notes=notes, defects=codes)


def _codes(defects, errors) -> tuple[str, ...]:
    if isinstance(defects, str) or not all(isinstance(d, str) for d in defects):
        errors["defects"] = ['A list of defect codes, such as ["SCRATCH"].']
        return ()
    if not all(d.strip() for d in defects):
        errors["defects"] = ["A defect code may not be blank."]
        return ()
    codes = tuple(dict.fromkeys(d.strip().upper() for d in defects))
    if len(codes) > MAX_DEFECTS:
        errors["defects"] = [f"At most {MAX_DEFECTS} defect codes in one review."]
        return ()
    if codes:
        unknown = [c for c in codes if c not in active_codes()]
        if unknown:  # perhaps added since the catalogue was read: read it again
            unknown = [c for c in codes if c not in active_codes(fresh=True)]
        if unknown:
            errors["defects"] = [
                f"Not in the catalogue of active defect codes: {', '.join(unknown)}."
            ]
    return codes


# The active codes, as this process read them last, and when (time.monotonic()).
_catalogue: tuple[frozenset[str], float] = (frozenset(), -1e9)
# How long a process trusts what it read: a code deactivated in the admin is refused by every
# process within this many seconds (at once by the process that saved it); a code added is
# accepted at once (an unknown code reads the catalogue again).
CATALOGUE_SECONDS = 10.0


def active_codes(*, fresh: bool = False) -> frozenset[str]:
    """The active defect codes: read from the database at most every CATALOGUE_SECONDS per
    process (a review with defect codes is a complete, the most frequent request), or now
    with `fresh`."""
    global _catalogue
    codes, read_at = _catalogue
    if fresh or time.monotonic() - read_at > CATALOGUE_SECONDS:
        codes = frozenset(DefectCode.objects.active().values_list("code", flat=True))
        _catalogue = (codes, time.monotonic())
    return codes


def catalogue_changed() -> None:
    """The catalogue changed (a code saved or deleted in this process): read it again next
    time."""
    global _catalogue
    _catalogue = (frozenset(), -1e9)


def reviews_required_problem(value) -> str | None:
    """What is wrong with a task's `reviews_required`, or None."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REVIEWS:
        return f"A whole number from 1 to {MAX_REVIEWS}."
    return None


def audit_sampled() -> bool:
    """Whether a task completed with a single review gets a blind second review: drawn at
    random, with the chance QC_REVIEW_SAMPLE_RATE."""
    rate = settings.QC_REVIEW_SAMPLE_RATE
    return rate > 0 and random.random() < rate


def final(outcomes) -> tuple[str, str]:
    """A task's status and outcome once it has had its reviews, from their verdicts: a pass
    and a fail make it DISPUTED (no outcome until a supervisor resolves it); otherwise it is
    COMPLETED with the verdict they agree on ("" when none gave one)."""
    given = {o for o in outcomes if o}
    if len(given) > 1:
        return TaskStatus.DISPUTED, ""
    return TaskStatus.COMPLETED, (given.pop() if given else "")
