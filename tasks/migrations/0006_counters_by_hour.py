import datetime

from django.db import migrations, models


def backfill(apps, schema_editor):
    """Count the history already in the tables by the hour, and the tasks created so far."""
    from django.db.models import Sum

    from tasks.counters import rebuild_hours

    Task = apps.get_model("tasks", "Task")
    Assignment = apps.get_model("tasks", "Assignment")
    Counter = apps.get_model("tasks", "Counter")
    rebuild_hours(task_model=Task, assignment_model=Assignment, counter_model=Counter)
    all_time = Counter._meta.get_field("hour").default
    created = Counter.objects.filter(name="created", hour=all_time)
    # Tasks are never deleted: their number is the running total of tasks created.
    counted = created.aggregate(n=Sum("value"))["n"] or 0
    created.filter(shard=0).update(value=models.F("value") + Task.objects.count() - counted)


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0005_counters"),
    ]

    operations = [
        migrations.AddField(
            model_name="counter",
            name="hour",
            field=models.DateTimeField(
                default=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
            ),
        ),
        migrations.AddConstraint(
            model_name="counter",
            constraint=models.UniqueConstraint(
                fields=("hour", "name", "shard"), name="qc_counters_hour_name_shard"
            ),
        ),
        migrations.RemoveConstraint(
            model_name="counter",
            name="qc_counters_name_shard",
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
