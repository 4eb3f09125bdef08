"""What the apps' admin classes share."""

from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


class ReadOnlyAdminMixin:
    """An audit log: seen (with the model's view permission), never written by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def back_to(request, default: str) -> HttpResponseRedirect:
    """Redirect to the page an admin action came from (`next`, this site only), else to
    `default`."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)
