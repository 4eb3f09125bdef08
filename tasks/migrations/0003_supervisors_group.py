from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.models import Min, OuterRef, Subquery

from tasks.roles import ensure_supervisors_group

# The group as it was when this migration was written; later ones change it. (Today's list
# names permissions of apps that may not be migrated yet at this point.)
SUPERVISOR_PERMISSIONS = [
    ("tasks", "supervise"),
    ("tasks", "intervene"),
    ("tasks", "import_tasks"),
    ("tasks", "export_assignments"),
    ("tasks", "view_dashboard"),
    ("tasks", "view_task"),
    ("tasks", "add_task"),
    ("tasks", "change_task"),
    ("tasks", "view_assignment"),
    ("tasks", "view_auditevent"),
    ("tasks", "view_assignerinstance"),
    ("personnel", "view_person"),
    ("personnel", "add_person"),
    ("personnel", "change_person"),
]


def create_supervisors_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_supervisors_group(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        SUPERVISOR_PERMISSIONS,
    )


def remove_supervisors_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Supervisors").delete()


def backfill_first_assigned_at(apps, schema_editor):
    Task = apps.get_model("tasks", "Task")
    Assignment = apps.get_model("tasks", "Assignment")
    first = (
        Assignment.objects.filter(task=OuterRef("pk"))
        .values("task")
        .annotate(first=Min("assigned_at"))
        .values("first")
    )
    Task.objects.filter(first_assigned_at__isnull=True).update(first_assigned_at=Subquery(first))


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0002_supervisor_workspace"),
        ("personnel", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_supervisors_group, remove_supervisors_group),
        migrations.RunPython(backfill_first_assigned_at, migrations.RunPython.noop),
    ]
