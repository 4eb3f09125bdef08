"""Who may see events: the permissions of this app that supervisors get, and the
Integrations group (accounts of other systems that read events and nothing else).

`tasks.roles` adds SUPERVISOR_PERMISSIONS to the Supervisors group; migration 0002 gives
them to an existing group and creates the Integrations group.
"""

INTEGRATIONS_GROUP = "Integrations"

# (app label, codename)
SUPERVISOR_PERMISSIONS = [
    ("events", "read_events"),
    ("events", "view_event"),
    ("events", "view_webhookendpoint"),
    ("events", "add_webhookendpoint"),
    ("events", "change_webhookendpoint"),
    ("events", "delete_webhookendpoint"),
    ("events", "view_delivery"),
    ("events", "resend_delivery"),
]

INTEGRATION_PERMISSIONS = [("events", "read_events")]


def _permissions(permission_model, wanted):
    return [
        permission_model.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in wanted
    ]


def ensure_integrations_group(group_model, permission_model):
    """Create or correct the Integrations group (reads events, nothing else); return it."""
    group, _ = group_model.objects.get_or_create(name=INTEGRATIONS_GROUP)
    group.permissions.set(_permissions(permission_model, INTEGRATION_PERMISSIONS))
    return group


def make_integration(user):
    """Make a user an integration account: in the Integrations group, not staff."""
    from django.contrib.auth.models import Group, Permission

    user.groups.add(ensure_integrations_group(Group, Permission))
    return user
