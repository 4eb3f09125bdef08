"""`manage.py prune`: each kind deletes what is past its retention, and nothing else."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models.functions import Now

from tasks import counters
from tasks.assigner import assigner_claim
from tasks.importing import import_stage
from tasks.models import AssignerInstance, Counter, PendingImport, PendingImportChunk, WaitHour
from tasks.services import ImportRow

pytestmark = pytest.mark.django_db


def test_hourly_counts_older_than_the_retention_go_and_the_totals_stay(settings, capsys):
    settings.QC_RETAIN_HOURLY_DAYS = 30
    counters.count(counters.CREATED, 5)  # this hour, and the running total
    old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=31)
    Counter.objects.create(name=counters.CREATED, hour=old, shard=0, value=7)
    WaitHour.objects.create(hour=old, tasks=3, p50=1.0, p90=2.0)
    WaitHour.objects.create(hour=old + timedelta(days=2), tasks=3, p50=1.0, p90=2.0)
    call_command("prune", "hourly-counters")
    assert "hourly-counters: deleted 2 rows" in capsys.readouterr().out
    assert not Counter.objects.filter(hour=old).exists()
    assert counters.totals()[counters.CREATED] == 5  # the running total is never pruned
    assert Counter.objects.exclude(hour=Counter.ALL_TIME).count() >= 1  # this hour stays
    assert WaitHour.objects.count() == 1


def test_expired_import_previews_go(supervisor):
    kept = import_stage(user=supervisor, file_name="a.csv", rows=[ImportRow(1, "x")])
    PendingImport.objects.create(
        user=supervisor, token="old", file_name="b.csv", row_count=0, expires_at=Now()
    )
    PendingImport.objects.filter(token="old").update(expires_at=Now() - timedelta(minutes=1))
    call_command("prune", "pending-imports")
    assert list(PendingImport.objects.values_list("pk", flat=True)) == [kept.pk]
    assert PendingImportChunk.objects.filter(pending=kept).count() == 1


def test_assigners_gone_for_good_go(settings):
    settings.QC_ASSIGNER_STALE_AFTER = 600
    assigner_claim(name="alive")
    assigner_claim(name="gone")
    AssignerInstance.objects.filter(name="gone").update(started_at=Now() - timedelta(hours=1))
    call_command("prune", "assigners")
    assert list(AssignerInstance.objects.values_list("name", flat=True)) == ["alive"]


def test_all_kinds_by_default_and_unknown_kinds_refused(capsys):
    call_command("prune")
    out = capsys.readouterr().out
    assert all(kind in out for kind in ("hourly-counters", "pending-imports", "assigners"))
    with pytest.raises(CommandError, match="Unknown kind"):
        call_command("prune", "everything")
