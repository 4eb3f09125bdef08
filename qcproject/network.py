"""Who is asking: the client's address, the same for lockouts (django-axes) and throttles."""

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    """The address of the client, as the outermost of `QC_PROXY_COUNT` trusted reverse
    proxies saw it (the entry it appended to X-Forwarded-For), else REMOTE_ADDR.

    Only entries a trusted proxy wrote are read: anything further left is the client's own
    words. A value that is not an IP address (a misconfigured proxy count, a header the
    client wrote with no proxy in front) falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.QC_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    candidate = entries[-min(proxies, len(entries))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
