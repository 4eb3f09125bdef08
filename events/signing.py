"""Webhook secrets, signatures (the Standard Webhooks specification, through its
`standardwebhooks` library) and the rule for safe target URLs."""

import base64
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    """A new endpoint secret in the Standard Webhooks format: `whsec_` + base64 of 32
    random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signer(secret: str) -> Webhook:
    return Webhook(secret)


def headers(signer: Webhook, *, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The request headers of one attempt: `webhook-id` (the same on every attempt, so a
    receiver de-duplicates on it), `webhook-timestamp` (this attempt's, in seconds) and
    `webhook-signature` (HMAC-SHA256 of "id.timestamp.body", `v1,<base64>`)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signer.sign(msg_id=msg_id, timestamp=timestamp, data=body),
        "user-agent": "qc-assign-webhooks/1",
    }


def url_problem(url: str) -> str | None:
    """Why a webhook may not be sent to `url`, or None. Only https:// URLs, or plain
    http:// to a host listed in QC_WEBHOOK_ALLOWED_HOSTS (a receiver on the same host or
    network); no credentials in the URL. Checked when an endpoint is saved and again before
    each request (the list may have changed since)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "Not a valid URL."
    if not host:
        return "The URL has no host."
    if parts.username or parts.password:
        return "Credentials in the URL are not allowed; the signature authenticates requests."
    if parts.scheme == "https":
        return None
    if parts.scheme == "http":
        if host in settings.QC_WEBHOOK_ALLOWED_HOSTS:
            return None
        return (
            f"Only https:// URLs are allowed, or http:// to a host in QC_WEBHOOK_ALLOWED_HOSTS "
            f"({host} is not)."
        )
    return "Only https:// URLs are allowed."
