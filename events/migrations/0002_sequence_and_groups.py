from django.contrib.auth.management import create_permissions
from django.db import migrations

from events.roles import (
    INTEGRATION_PERMISSIONS,
    INTEGRATIONS_GROUP,
    SUPERVISOR_PERMISSIONS,
)

SUPERVISORS_GROUP = "Supervisors"


def forwards(apps, schema_editor):
    apps.get_model("events", "EventSequence").objects.get_or_create(pk=1)
    # Permissions are normally created after all migrations ran; the groups need them now.
    config = apps.get_app_config("events")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(wanted):
        return [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in wanted
        ]

    integrations, _ = Group.objects.get_or_create(name=INTEGRATIONS_GROUP)
    integrations.permissions.set(permissions(INTEGRATION_PERMISSIONS))
    # The Supervisors group (tasks.roles) gets this app's permissions where it exists.
    supervisors = Group.objects.filter(name=SUPERVISORS_GROUP).first()
    if supervisors is not None:
        supervisors.permissions.add(*permissions(SUPERVISOR_PERMISSIONS))


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=INTEGRATIONS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The Supervisors group as tasks last set it (a later migration that sets the group
        # to a list must keep these permissions in it).
        ("tasks", "0010_supervisors_manage_logins"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
