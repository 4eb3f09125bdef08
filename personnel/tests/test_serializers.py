"""The person representation is built by hand for speed (it answers every heartbeat); it
must equal what the declared fields give, in every state a person can be in."""

import pytest
from rest_framework import serializers

from personnel.selectors import person_get
from personnel.serializers import PersonSerializer
from tasks.sessions import person_login
from tasks.testing import make_tasks

pytestmark = pytest.mark.django_db


def declared(person) -> dict:
    return dict(serializers.ModelSerializer.to_representation(PersonSerializer(), person))


def test_person_representation_equals_the_declared_fields(alice, bob, make_person):
    never = make_person("Never Signed In")
    make_tasks("the one task")
    person_login(person_id=alice.pk)  # gets the task
    person_login(person_id=bob.pk)  # signed in, waiting

    people = [person_get(person_id=p.pk) for p in (alice, bob, never)]

    assert people[0].current_task is not None and people[2].last_heartbeat is None
    for person in people:
        assert PersonSerializer(person).data == declared(person)
    assert PersonSerializer(people, many=True).data == [declared(p) for p in people]
