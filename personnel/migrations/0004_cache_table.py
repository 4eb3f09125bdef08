"""The cache table (CACHES: `dbcache://qc_cache` unless CACHE_URL says otherwise), where
every web process counts the token endpoint's requests per address. A migration, so that
`migrate`, run by the user who holds DDL rights, creates it wherever the schema is made
(`make run`, the tests, a deployment); for a Redis CACHE_URL it creates nothing."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("personnel", "0003_hash_legacy_tokens"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
