"""The Supervisors group: exactly the permissions the supervisor workspace needs.

Used by the data migration that creates the group, and by tests and `seed_demo` to make
sure it exists. Works with real or historical (migration) models.
"""

from events.roles import SUPERVISOR_PERMISSIONS as EVENTS_SUPERVISOR_PERMISSIONS

SUPERVISORS_GROUP = "Supervisors"

# (app label, codename)
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
    # Events and webhooks: read events, manage endpoints, see and resend deliveries.
    *EVENTS_SUPERVISOR_PERMISSIONS,
]


def ensure_supervisors_group(group_model, permission_model):
    """Create or correct the Supervisors group; return it."""
    group, _ = group_model.objects.get_or_create(name=SUPERVISORS_GROUP)
    permissions = []
    for app, codename in SUPERVISOR_PERMISSIONS:
        found = permission_model.objects.filter(
            content_type__app_label=app, codename=codename
        ).first()
        if (
            found is None
            and not permission_model.objects.filter(content_type__app_label=app).exists()
        ):
            # An app migrated after this group's migration (events) adds its permissions
            # to the group in its own migration.
            continue
        if found is None:
            raise LookupError(f"no permission {app}.{codename}")
        permissions.append(found)
    group.permissions.set(permissions)
    return group


def make_supervisor(user):
    """Make a user a supervisor: staff, in the Supervisors group."""
    from django.contrib.auth.models import Group, Permission

    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(ensure_supervisors_group(Group, Permission))
    return user
