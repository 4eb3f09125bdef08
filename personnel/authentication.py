"""API token authentication, reading the token, its user and the user's QC person in one
hand-written statement (the machinery and why: qcproject/rawsql.py).

DRF imports the classes named in its settings while `rest_framework.views` itself loads, so
this module imports no views.
"""

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from qcproject import rawsql
from qcproject.rawsql import col, columns, per_database, q, table

from .models import Person


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, reading the user's QC person in the same query.

    Every QC person's request asks who they act as (`acting_person_id`); joining the person
    here saves that second query on each heartbeat, sign-in and complete. It runs on every
    API request.
    """

    def authenticate_credentials(self, key):
        # The first statement of every token request: it stands in for the health check.
        token = rawsql.health_checked(rawsql.db(), lambda: token_with_user(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)


@per_database
def _token_sql() -> str:
    User = get_user_model()
    user_pk = f"{q('u')}.{q(User._meta.pk.column)}"
    return (
        f"SELECT {columns(connection, Token, 't').sql}, {columns(connection, User, 'u').sql},"
        f" {columns(connection, Person, 'p').sql}"
        f" FROM {table(Token)} {q('t')}"
        f" INNER JOIN {table(User)} {q('u')} ON {user_pk} = {col(Token, 'user', 't')}"
        f" LEFT OUTER JOIN {table(Person)} {q('p')} ON {col(Person, 'user', 'p')} = {user_pk}"
        f" WHERE {col(Token, 'key', 't')} = %s"
    )


def token_with_user(key: str) -> Token | None:
    """The API token `key` with its user, and the user's QC person (or None), in one query.

    Sets the related caches as `select_related("user", "user__person")` would, so
    `token.user.person` costs no further query.
    """
    db = rawsql.db()
    row = rawsql.fetchone(db, _token_sql(db), [key])
    if row is None:
        return None
    token, user = columns(db, Token, "t"), columns(db, get_user_model(), "u")
    person = columns(db, Person, "p")
    token_obj = token.instance(db, row)
    user_obj = user.instance(db, row, token.width)
    person_obj = person.instance(db, row, token.width + user.width)
    Token._meta.get_field("user").set_cached_value(token_obj, user_obj)
    person_user = Person._meta.get_field("user")
    person_user.remote_field.set_cached_value(user_obj, person_obj)
    if person_obj is not None:
        person_user.set_cached_value(person_obj, user_obj)
    return token_obj
