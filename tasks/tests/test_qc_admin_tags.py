"""The dashboard's template filters: durations as people read them, in the page's language."""

from datetime import timedelta

import pytest
from django.utils import translation

from tasks.templatetags.qc_admin import end_reason_label, short_duration


@pytest.mark.parametrize(
    "value, shown",
    [
        (None, "—"),
        (0, "0 s"),
        (45.4, "45 s"),
        (timedelta(minutes=3, seconds=5), "3 min 05 s"),
        (timedelta(hours=2, minutes=7), "2 h 07 min"),
        (timedelta(days=3, hours=5), "3 d 5 h"),
        (-4, "0 s"),
    ],
)
def test_short_duration_reads_like_a_dashboard(value, shown):
    assert short_duration(value) == shown


def test_short_duration_speaks_the_active_language():
    with translation.override("de"):
        assert short_duration(timedelta(days=3, hours=5)) == "3 T 5 h"
        assert short_duration(timedelta(minutes=3, seconds=5)) == "3 min 05 s"


def test_end_reason_label_shows_the_label_or_the_code_it_does_not_know():
    assert end_reason_label("STALE") == "Released on stale session"
    assert end_reason_label("SOMETHING_NEW") == "SOMETHING_NEW"


def test_percent_is_a_whole_percentage_in_the_pages_language():
    from tasks.templatetags.qc_admin import percent

    assert percent(None) == "—" and percent("") == "—"
    assert percent(0.4) == "40%" and percent(2 / 3) == "67%" and percent(0) == "0%"
    with translation.override("de"):
        assert percent(0.5).startswith("50")
