from datetime import timedelta

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def short_duration(value) -> str:
    """A timedelta or seconds as people read it on a dashboard: 45 s, 3 min 05 s, 2 h 10 min."""
    if value is None or value == "":
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return _("%(seconds)d s") % {"seconds": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": seconds}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    days, hours = divmod(hours, 24)
    return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}


@register.filter
def end_reason_label(code: str) -> str:
    from tasks.models import EndReason

    try:
        return EndReason(code).label
    except ValueError:
        return code


@register.filter
def percent(share) -> str:
    """A share (0 to 1) as a whole percentage in the page's language (25%, 25 %: as the
    dashboard's script writes it with Intl.NumberFormat); — for None."""
    if share is None or share == "":
        return "—"
    # Translators: a percentage; write it as your language does, such as "%(percent)s %%".
    return _("%(percent)s%%") % {"percent": number_format(round(float(share) * 100), 0)}
