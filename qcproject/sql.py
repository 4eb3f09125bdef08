"""The API token authentication's statement, by hand (see qcproject/rawsql.py for why)."""

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from personnel.models import Person
from qcproject import rawsql
from qcproject.rawsql import col, columns, per_database, q, table


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
