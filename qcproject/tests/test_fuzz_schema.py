"""Property-based fuzzing of the whole API from its own OpenAPI schema (Schemathesis).

Every operation in `/api/schema/` gets generated requests, valid and invalid, as an
anonymous client, as a QC person and as a supervisor, sent in-process to the WSGI app. Each
answer must not be a server error, must have a status the schema documents for that
operation, and, where the schema describes the body, must match it. Half of the generated
ids are swapped for ids that exist, so the requests reach the services, not only the 404s.

Bounded: 20 examples per operation and role, derandomized, so a run is repeatable and
takes well under a minute.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from personnel.services import token_issue
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_in_test_transaction():
    """Call the real WSGI handler inside the test's transaction.

    Django's handler closes the connection at the end of each request, which would end
    the test's transaction; its own test client unhooks the same signals for that reason.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(make_person, supervisor):
    """People signed in with tasks, pending tasks, and a token per role."""
    people = [make_person() for _ in range(3)]
    tasks = task_create(descriptions=[f"fuzz {i}" for i in range(6)])
    for person in people[:2]:
        person_login(person_id=person.pk)
    return {
        "ids": [p.pk for p in people] + [t.pk for t in tasks],
        "anonymous": {},
        "person": {"Authorization": f"Token {token_issue(user=people[0].user).token}"},
        "supervisor": {"Authorization": f"Token {token_issue(user=supervisor).token}"},
    }


from qcproject.wsgi import application  # noqa: E402

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

FUZZ = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _call(case, world, role):
    ids = case.path_parameters or {}
    # An id off the path's pattern is a request for another URL (`/personnel/status` for
    # `/personnel/{id}`, or none at all); that is not this operation's answer to judge.
    assume(all(str(value).isdigit() for value in ids.values()))
    if "id" in ids and int(ids["id"]) % 2 == 0:
        # Deterministic in the generated value, so Hypothesis can still shrink.
        ids["id"] = str(world["ids"][int(ids["id"]) // 2 % len(world["ids"])])
    case.call_and_validate(headers=world[role], checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_fuzz_as_anonymous(case, world, wsgi_in_test_transaction):
    _call(case, world, "anonymous")


@schema.parametrize()
@FUZZ
def test_fuzz_as_qc_person(case, world, wsgi_in_test_transaction):
    _call(case, world, "person")


@schema.parametrize()
@FUZZ
def test_fuzz_as_supervisor(case, world, wsgi_in_test_transaction):
    _call(case, world, "supervisor")
