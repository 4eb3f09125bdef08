"""The API token authentication's statement (`personnel.authentication`) against the ORM's rows."""

import pytest
from rest_framework.authtoken.models import Token

from personnel import authentication as sql
from personnel.models import Person

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_token_with_user_reads_token_user_and_person_in_one_query(alice, django_assert_num_queries):
    key = Token.objects.create(user=alice.user).key

    with django_assert_num_queries(1):
        token = sql.token_with_user(key)
        assert token.user.person.pk == alice.pk
        assert token.user.person.user is token.user

    assert _fields(token) == _fields(Token.objects.get(key=key))
    assert _fields(token.user) == _fields(type(alice.user).objects.get(pk=alice.user.pk))
    assert _fields(token.user.person) == _fields(Person.objects.get(pk=alice.pk))


def test_token_of_a_user_without_person_caches_that_there_is_none(
    supervisor, django_assert_num_queries
):
    key = Token.objects.create(user=supervisor).key

    with django_assert_num_queries(1):
        token = sql.token_with_user(key)
        with pytest.raises(Person.DoesNotExist):
            token.user.person  # noqa: B018 (the access is the test)


def test_unknown_token_is_none():
    assert sql.token_with_user("0" * 40) is None
