"""API tokens: what a token is, what is stored for it, and the statement that authenticates
every API request.

A token is 32 random bytes, URL-safe base64 (43 characters), shown once when issued. The
database keeps its SHA-256 digest (`ApiToken.digest`, unique): a token is random enough
that a fast hash is as safe as a slow one, and a lookup by digest is one index probe.

A token works while all of these hold, checked on every request:
- it is not expired: `expires_at` is `QC_TOKEN_TTL` after its last use, pushed out by use
  at most once every `QC_IDLE_REFRESH_INTERVAL` (a write per token per interval, not per
  request);
- the user's password hash is the one it was issued under (`password_stamp`): a password
  changed in the admin, the API, the user's own page, the shell or by SQL ends every token,
  as it ends Django's sessions;
- the user is active (deactivation also deletes the tokens, so a reactivated login does
  not bring them back);
- it was not revoked (signed out, or by a supervisor): its row is gone.

The statement is hand-written because it runs on every API request: one probe of the
digest's unique index, joined with the user and the user's QC person (who they act as),
with no ORM query to build (see docs/benchmarks.md for what the ORM costs per request).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from rest_framework import exceptions

from .models import ApiToken, Person

PREFIX_LENGTH = 8


def token_new() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_stamp(password_hash: str) -> str:
    """What a token remembers of the user's password: a digest of its hash (salted, so a
    new hash even for the same password), never the hash itself."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


def token_ttl() -> timedelta:
    return timedelta(seconds=settings.QC_TOKEN_TTL)


def refresh_interval() -> timedelta:
    """How often use pushes a token's expiry out: at most every QC_IDLE_REFRESH_INTERVAL,
    and at least twice in a lifetime however short the TTL."""
    return timedelta(seconds=min(settings.QC_IDLE_REFRESH_INTERVAL, settings.QC_TOKEN_TTL / 2))


# --- the statement ------------------------------------------------------------------------------


class _Columns:
    """A model's concrete columns (or `only` these) in a SELECT list under an alias, and the
    way back from a row to an instance with the converters the ORM's compiler would apply
    (booleans and datetimes differ between MySQL and SQLite); fields left out are deferred,
    as with `only()`."""

    def __init__(self, db, model, alias: str, only: tuple[str, ...] | None = None):
        quote = db.ops.quote_name
        fields = [f for f in model._meta.concrete_fields if only is None or f.name in only]
        self.model = model
        self.field_names = None if only is None else [f.attname for f in fields]
        self.sql = ", ".join(f"{quote(alias)}.{quote(f.column)}" for f in fields)
        self.width = len(fields)
        self.converters = []
        for i, field in enumerate(fields):
            col = field.get_col(alias)
            chain = db.ops.get_db_converters(col) + col.get_db_converters(db)
            if chain:
                self.converters.append((i, col, chain))

    def instance(self, db, row, start: int):
        """The instance in `row[start:start + width]`, or None for the NULLs of a LEFT JOIN
        that found nothing."""
        values = list(row[start : start + self.width])
        if values[0] is None:
            return None
        for i, col, chain in self.converters:
            for convert in chain:
                values[i] = convert(values[i], col, db)
        return self.model.from_db(db.alias, self.field_names, values)


class _Statement:
    """The token by digest, its user and the user's QC person, in one SELECT; built once
    per database vendor (quoting and converters differ)."""

    def __init__(self, db):
        User = get_user_model()
        quote = db.ops.quote_name
        # What authenticating reads of a token, and what `request.auth` offers (sign-out).
        self.token = _Columns(
            db, ApiToken, "t", only=("id", "user", "prefix", "password_stamp", "expires_at")
        )
        self.user = _Columns(db, User, "u")
        self.person = _Columns(db, Person, "p")

        def col(model, name, alias):
            return f"{quote(alias)}.{quote(model._meta.get_field(name).column)}"

        user_pk = f"{quote('u')}.{quote(User._meta.pk.column)}"
        self.select = (
            f"SELECT {self.token.sql}, {self.user.sql}, {self.person.sql}"
            f" FROM {quote(ApiToken._meta.db_table)} {quote('t')}"
            f" INNER JOIN {quote(User._meta.db_table)} {quote('u')}"
            f" ON {user_pk} = {col(ApiToken, 'user', 't')}"
            f" LEFT OUTER JOIN {quote(Person._meta.db_table)} {quote('p')}"
            f" ON {col(Person, 'user', 'p')} = {user_pk}"
            f" WHERE {col(ApiToken, 'digest', 't')} = %s"
        )
        table = quote(ApiToken._meta.db_table)
        expires = quote(ApiToken._meta.get_field("expires_at").column)
        used = quote(ApiToken._meta.get_field("last_used_at").column)
        pk = quote(ApiToken._meta.pk.column)
        # Later only: two requests refreshing at once write once, and never backwards.
        self.refresh = (
            f"UPDATE {table} SET {expires} = %s, {used} = %s WHERE {pk} = %s AND {expires} < %s"
        )

    def instances(self, db, row):
        token = self.token.instance(db, row, 0)
        user = self.user.instance(db, row, self.token.width)
        person = self.person.instance(db, row, self.token.width + self.user.width)
        # As select_related("user__person") would: `token.user.person` costs no query.
        ApiToken._meta.get_field("user").set_cached_value(token, user)
        person_user = Person._meta.get_field("user")
        person_user.remote_field.set_cached_value(user, person)
        if person is not None:
            person_user.set_cached_value(person, user)
        return token, user


_statements: dict[str, _Statement] = {}


def _statement(db) -> _Statement:
    statement = _statements.get(db.vendor)
    if statement is None:
        statement = _statements[db.vendor] = _Statement(db)
    return statement


def _cursor(db):
    """A cursor of `db`, kept for this statement while the connection lasts: Django makes a
    new one per `connection.cursor()`, a measurable share of what authenticating costs
    (bench/token_auth.py). A new connection, or query logging turned on (DEBUG, the test
    suite's query counts), gets a new cursor; the health check and (re)connection that
    `cursor()` would do are done here too."""
    db.close_if_health_check_failed()
    db.ensure_connection()
    key = (db.connection, db.queries_logged)
    kept = db.__dict__.get("_qc_token_cursor")
    if kept is None or kept[0] != key:
        kept = db._qc_token_cursor = (key, db.cursor())
    return kept[1]


def token_authenticate(token: str):
    """The (user, ApiToken) of a working token, the user's QC person loaded with them (one
    statement); raises AuthenticationFailed (401) for a token that does not work, saying
    why. Pushes the expiry out when the last push is older than the refresh interval."""
    db = connections[DEFAULT_DB_ALIAS]
    statement = _statement(db)
    cursor = _cursor(db)
    cursor.execute(statement.select, [token_digest(token)])
    row = cursor.fetchone()
    if row is None:
        raise exceptions.AuthenticationFailed("Invalid token.")
    api_token, user = statement.instances(db, row)
    now = timezone.now()
    if api_token.expires_at <= now:
        raise exceptions.AuthenticationFailed("Token expired; sign in again.")
    if not secrets.compare_digest(api_token.password_stamp, password_stamp(user.password)):
        raise exceptions.AuthenticationFailed(
            "The password changed since this token was issued; sign in again."
        )
    if not user.is_active:
        raise exceptions.AuthenticationFailed("User inactive or deleted.")
    ttl = token_ttl()
    if api_token.expires_at < now + ttl - refresh_interval():
        _refresh(db, statement, api_token, now, now + ttl)
    return user, api_token


def _refresh(db, statement, api_token: ApiToken, now, expires) -> None:
    adapt = db.ops.adapt_datetimefield_value
    _cursor(db).execute(
        statement.refresh, [adapt(expires), adapt(now), api_token.pk, adapt(expires)]
    )
    api_token.expires_at = expires
