from django.contrib.auth.management import create_permissions
from django.db import migrations

from tasks.roles import ensure_supervisors_group

# The group as of this migration: 0003's, and managing QC personnel's logins and unlocking
# sign-ins locked by failures.
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
    ("personnel", "manage_login"),
    ("personnel", "view_apitoken"),
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
]


def update_supervisors_group(apps, schema_editor):
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


def restore_supervisors_group(apps, schema_editor):
    ensure_supervisors_group(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        SUPERVISOR_PERMISSIONS[:14],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0009_login_audit_actions"),
        ("personnel", "0002_api_tokens"),
        ("axes", "0010_accessattemptexpiration"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(update_supervisors_group, restore_supervisors_group),
    ]
