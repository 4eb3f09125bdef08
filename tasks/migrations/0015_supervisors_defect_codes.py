from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPERVISORS_GROUP = "Supervisors"
# The Supervisors group keeps the catalogue of defect codes (never deletes a code).
DEFECT_CODE_PERMISSIONS = [
    ("tasks", "view_defectcode"),
    ("tasks", "add_defectcode"),
    ("tasks", "change_defectcode"),
]


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in DEFECT_CODE_PERMISSIONS
    ]


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the group needs them now.
    config = apps.get_app_config("tasks")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    # Added, not set: the group keeps what other apps' migrations gave it (events 0002).
    group = apps.get_model("auth", "Group").objects.filter(name=SUPERVISORS_GROUP).first()
    if group is not None:
        group.permissions.add(*_permissions(apps))


def backwards(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=SUPERVISORS_GROUP).first()
    if group is not None:
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0014_outcomes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
