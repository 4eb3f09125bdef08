"""`{% webhook_alerts %}`: the webhook endpoints a supervisor should look at (disabled after
repeated failures, or failing now), for the dashboard."""

from django import template

from events.selectors import webhooks_health

register = template.Library()


@register.inclusion_tag("events/webhook_alerts.html")
def webhook_alerts():
    return {"rows": webhooks_health()}
