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
with no ORM query to build (see docs/benchmarks.md for what the ORM costs per request),
written with the machinery of the hand-written statements (qcproject/rawsql.py). Expiry is
judged by the database's clock, like every deadline of the engine.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework import exceptions

from qcproject import rawsql
from qcproject.rawsql import col, columns, per_database, q, table

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

# What authenticating reads, every API request: of the token, what `request.auth` offers
# (sign-out); of the user, what deciding who may do what reads (a supervisor's permissions
# come from their groups, read when asked); of the person, who the user acts as. The other
# columns are left deferred, as with `only()`: fewer values to convert and to set on the
# instances, a measurable share of a request (docs/benchmarks.md); a column read later
# costs a query of its own.
_TOKEN_FIELDS = ("id", "user", "prefix", "password_stamp", "expires_at")
_USER_FIELDS = ("id", "password", "username", "is_active", "is_staff", "is_superuser")
_PERSON_FIELDS = ("id", "user")


@per_database
def _select_sql() -> str:
    """The token by digest, its user and the user's QC person, and the database's clock, in
    one SELECT through the digest's unique index."""
    User = get_user_model()
    user_pk = f"{q('u')}.{q(User._meta.pk.column)}"
    return (
        f"SELECT {columns(connection, ApiToken, 't', _TOKEN_FIELDS).sql},"
        f" {columns(connection, User, 'u', _USER_FIELDS).sql},"
        f" {columns(connection, Person, 'p', _PERSON_FIELDS).sql},"
        f" {rawsql.now_sql(connection)}"
        f" FROM {table(ApiToken)} {q('t')}"
        f" INNER JOIN {table(User)} {q('u')} ON {user_pk} = {col(ApiToken, 'user', 't')}"
        f" LEFT OUTER JOIN {table(Person)} {q('p')} ON {col(Person, 'user', 'p')} = {user_pk}"
        f" WHERE {col(ApiToken, 'digest', 't')} = %s"
    )


@per_database
def _refresh_sql() -> str:
    """Push the expiry out; later only, so two requests refreshing at once write once, and
    never backwards."""
    expires = col(ApiToken, "expires_at")
    return (
        f"UPDATE {table(ApiToken)} SET {expires} = %s, {col(ApiToken, 'last_used_at')} = %s"
        f" WHERE {col(ApiToken, 'id')} = %s AND {expires} < %s"
    )


def _instances(db, row):
    token = columns(db, ApiToken, "t", _TOKEN_FIELDS)
    user = columns(db, get_user_model(), "u", _USER_FIELDS)
    person = columns(db, Person, "p", _PERSON_FIELDS)
    api_token = token.instance(db, row)
    user_obj = user.instance(db, row, token.width)
    person_obj = person.instance(db, row, token.width + user.width)
    # As select_related("user__person") would: `token.user.person` costs no query.
    ApiToken._meta.get_field("user").set_cached_value(api_token, user_obj)
    person_user = Person._meta.get_field("user")
    person_user.remote_field.set_cached_value(user_obj, person_obj)
    if person_obj is not None:
        person_user.set_cached_value(person_obj, user_obj)
    now = rawsql.datetime_from_db(db, row[token.width + user.width + person.width])
    return api_token, user_obj, now


def token_authenticate(token: str):
    """The (user, ApiToken) of a working token, the user's QC person loaded with them (one
    statement, which also stands in for the connection's health check: it is the first of
    every token request); raises AuthenticationFailed (401) for a token that does not work,
    saying why. Expiry is judged by the database's clock. Pushes the expiry out when the
    last push is older than the refresh interval."""
    db = rawsql.db()
    row = rawsql.health_checked(
        db, lambda: rawsql.fetchone(db, _select_sql(db), [token_digest(token)])
    )
    if row is None:
        raise exceptions.AuthenticationFailed("Invalid token.")
    api_token, user, now = _instances(db, row)
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
        expires = now + ttl
        stored = [rawsql.datetime_to_db(db, v) for v in (expires, now)]
        rawsql.execute(
            db, _refresh_sql(db), [*stored, api_token.pk, rawsql.datetime_to_db(db, expires)]
        )
        api_token.expires_at = expires
    return user, api_token
