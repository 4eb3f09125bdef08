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
    # The catalogue of defect codes reviews log: kept by supervisors (never deleted).
    ("tasks", "view_defectcode"),
    ("tasks", "add_defectcode"),
    ("tasks", "change_defectcode"),
    ("personnel", "view_person"),
    ("personnel", "add_person"),
    ("personnel", "change_person"),
    # Logins: set a password, deactivate, reactivate, revoke API tokens (audited); see every
    # API token (never the token itself).
    ("personnel", "manage_login"),
    ("personnel", "view_apitoken"),
    # Sign-ins locked by failures (django-axes): see them, and unlock (audited).
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    # Events and webhooks: read events, manage endpoints, see and resend deliveries (given
    # to an existing group by events' migration 0002).
    *EVENTS_SUPERVISOR_PERMISSIONS,
]


def ensure_supervisors_group(group_model, permission_model, permissions=None):
    """Create or correct the Supervisors group to exactly `permissions` (default: today's
    SUPERVISOR_PERMISSIONS; a data migration passes the list of its own time); return it."""
    group, _ = group_model.objects.get_or_create(name=SUPERVISORS_GROUP)
    permissions = [
        permission_model.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in (SUPERVISOR_PERMISSIONS if permissions is None else permissions)
    ]
    group.permissions.set(permissions)
    return group


def make_supervisor(user):
    """Make a user a supervisor: staff, in the Supervisors group."""
    from django.contrib.auth.models import Group, Permission

    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(ensure_supervisors_group(Group, Permission))
    return user
