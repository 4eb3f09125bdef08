"""Tokens issued before tokens were hashed (DRF's `authtoken_token`, keys in the clear)
become hashed API tokens with the same key: clients keep working, each token gets a
lifetime of QC_TOKEN_TTL from now (pushed out by use), and no key is left in the clear.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

LEGACY_TABLE = "authtoken_token"


def _sha256(text: str) -> str:
    # As personnel.tokens computes the digest of a token and the stamp of a password hash.
    return hashlib.sha256(text.encode()).hexdigest()


def hash_legacy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return  # a database that never had the old tokens
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('key')}, {quote('user_id')} FROM {quote(LEGACY_TABLE)}")
        rows = cursor.fetchall()
    if not rows:
        return
    ApiToken = apps.get_model("personnel", "ApiToken")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    passwords = dict(
        User.objects.filter(pk__in={user_id for _, user_id in rows}).values_list("pk", "password")
    )
    expires = timezone.now() + timedelta(seconds=settings.QC_TOKEN_TTL)
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                user_id=user_id,
                digest=_sha256(key),
                prefix=key[:8],
                password_stamp=_sha256(passwords[user_id]),
                expires_at=expires,
            )
            for key, user_id in rows
            if user_id in passwords
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(LEGACY_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("personnel", "0002_api_tokens"),
    ]

    operations = [
        # Not reversible in any useful way: the keys are gone; going back leaves the hashed
        # tokens where they are.
        migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop),
    ]
