"""A generated client, as an integrator makes one: openapi-python-client generates a Python
client from the live server's `/api/schema/` into a temporary directory, and the tests drive
the API through it, over HTTP, against the live test server (MariaDB).

Generation runs with `--fail-on-warning`: an operation the generator cannot express (and
would leave out of the client) fails the run, and so does a schema the generated package
cannot import with. A schema change that breaks generated clients fails here.
"""

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import urllib.request

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "qc_assign_api_client"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def live_schema(live_server):
    with urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json") as response:
        return json.load(response)


@pytest.fixture(scope="module")
def qc(live_schema, tmp_path_factory):
    """The generated client package, imported from its temporary directory."""
    workdir = tmp_path_factory.mktemp("client")
    schema_file = workdir / "schema.json"
    schema_file.write_text(json.dumps(live_schema))
    # The generator formats its output with ruff (post hooks found on PATH): this venv's.
    path = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(schema_file)]
        + ["--meta", "none", "--fail-on-warning"],
        cwd=workdir,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def api(qc, name: str):
    """The generated module of one operation, e.g. `api(qc, "personnel.personnel_login")`."""
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def anonymous(qc, live_server):
    return qc.Client(base_url=live_server.url, raise_on_unexpected_status=True)


def signed_in(qc, live_server, username: str):
    """A client with the user's API token, got through the generated `auth_token`."""
    answer = api(qc, "auth.auth_token").sync(
        client=anonymous(qc, live_server),
        body=qc.models.AuthTokenRequest(username=username, password=PASSWORD),
    )
    assert isinstance(answer, qc.models.AuthToken), answer
    return qc.AuthenticatedClient(
        base_url=live_server.url,
        token=answer.token,
        prefix="Token",
        raise_on_unexpected_status=True,
    )


def test_every_operation_of_the_schema_has_a_generated_function(qc, live_schema):
    operations = [
        (operation["tags"][0], operation["operationId"])
        for methods in live_schema["paths"].values()
        for operation in methods.values()
    ]
    assert len(operations) >= 18
    for tag, operation_id in operations:
        # The generator names a tag's package in snake case ("defect-codes": defect_codes).
        module = api(qc, f"{tag.replace('-', '_')}.{operation_id}")
        for function in ("sync", "sync_detailed", "asyncio", "asyncio_detailed"):
            assert callable(getattr(module, function, None)), (operation_id, function)


def test_generated_client_drives_the_seed_workflow(qc, live_server, supervisor, alice):
    models = qc.models
    boss = signed_in(qc, live_server, supervisor.username)
    me = signed_in(qc, live_server, alice.user.username)

    one = api(qc, "tasks.tasks_create").sync(
        client=boss, body=models.TaskCreateRequest(description="Inspect lot 1")
    )
    assert isinstance(one, models.Task) and one.status == models.TaskStatus.PENDING
    many = api(qc, "tasks.tasks_create").sync(
        client=boss,
        body=[
            models.TaskCreateRequest(description="Inspect lot 2"),
            models.TaskCreateRequest(description="Inspect lot 3"),
        ],
    )
    assert [task.description for task in many] == ["Inspect lot 2", "Inspect lot 3"]
    assert all(isinstance(task, models.Task) for task in many)

    # A QC person signs themselves in (no body) and gets the oldest pending task at once.
    person = api(qc, "personnel.personnel_login").sync(client=me)
    assert isinstance(person, models.Person) and person.id == alice.pk
    assert person.is_logged_in and person.current_task.id == one.id

    beat = api(qc, "personnel.personnel_heartbeat").sync(id=alice.pk, client=me)
    assert isinstance(beat, models.Person) and beat.current_task.id == one.id
    assert beat.last_heartbeat is not None

    size = api(qc, "tasks.tasks_queue_size").sync(client=me)
    assert isinstance(size, models.QueueSize) and size.pending == 2

    done = api(qc, "tasks.tasks_complete").sync(id=one.id, client=me)
    assert isinstance(done, models.TaskComplete) and done.status == models.TaskStatus.COMPLETED
    assert done.next_task.id == many[0].id
    assert done.next_task.status == models.TaskStatus.IN_PROGRESS

    queue = api(qc, "tasks.tasks_queue").sync(client=boss)
    assert isinstance(queue, models.PaginatedTaskList) and queue.count == 2
    assert [task.id for task in queue.results] == [many[0].id, many[1].id]
    assert queue.results[0].assigned_to_id == alice.pk

    working = api(qc, "personnel.personnel_status").sync(client=boss)
    assert [(p.id, p.current_task.id) for p in working] == [(alice.pk, many[0].id)]

    out = api(qc, "personnel.personnel_logout").sync(id=alice.pk, client=me)
    assert isinstance(out, models.Person)
    assert not out.is_logged_in and out.current_task is None
    back = api(qc, "tasks.tasks_retrieve").sync(id=many[0].id, client=boss)
    assert back.status == models.TaskStatus.PENDING and back.assigned_to_id is None

    refused = api(qc, "personnel.personnel_heartbeat").sync_detailed(id=alice.pk, client=me)
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.Error)
    assert refused.parsed.code == "no_session" and "Start work again" in refused.parsed.detail


def test_generated_client_parses_validation_errors(qc, live_server, supervisor):
    models = qc.models
    boss = signed_in(qc, live_server, supervisor.username)
    create = api(qc, "tasks.tasks_create")

    blank = create.sync(client=boss, body=models.TaskCreateRequest(description=" "))
    assert isinstance(blank, models.ValidationError)
    assert blank["description"] == ["This field may not be blank."]

    second_blank = create.sync(
        client=boss,
        body=[models.TaskCreateRequest(description="ok"), models.TaskCreateRequest(description="")],
    )
    assert isinstance(second_blank, models.ListValidationError)
    assert second_blank.additional_keys == ["1"]
    assert second_blank["1"]["description"] == ["This field may not be blank."]

    empty = create.sync(client=boss, body=[])
    assert isinstance(empty, models.Error) and empty.code == "invalid"

    missing = api(qc, "personnel.personnel_create").sync(
        client=boss, body=models.PersonCreateRequest(name="Carol", username="", password="x")
    )
    assert isinstance(missing, models.ValidationError) and "username" in missing


def test_generated_client_parses_refusals_as_the_error_model(qc, live_server, alice, bob):
    models = qc.models
    me = signed_in(qc, live_server, alice.user.username)
    stranger = qc.AuthenticatedClient(
        base_url=live_server.url, token="0" * 40, prefix="Token", raise_on_unexpected_status=True
    )

    cases = [
        (api(qc, "personnel.personnel_retrieve").sync_detailed(id=bob.pk, client=me), 403),
        (api(qc, "personnel.personnel_retrieve").sync_detailed(id=99999999, client=me), 404),
        (api(qc, "tasks.tasks_queue").sync_detailed(client=me), 403),
        (api(qc, "tasks.tasks_queue_size").sync_detailed(client=stranger), 401),
        (api(qc, "tasks.tasks_complete").sync_detailed(id=99999999, client=me), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.content
        assert isinstance(response.parsed, models.Error), response.content
        assert response.parsed.detail and response.parsed.code


def test_public_operations_need_no_token(qc, live_server, alice):
    models = qc.models
    health = api(qc, "healthz.healthz").sync(client=anonymous(qc, live_server))
    assert isinstance(health, models.Health) and health.status == models.HealthStatus.OK

    # A client that still sends an old token gets a new one, not 401.
    stale = qc.AuthenticatedClient(
        base_url=live_server.url, token="0" * 40, prefix="Token", raise_on_unexpected_status=True
    )
    body = models.AuthTokenRequest(username=alice.user.username, password=PASSWORD)
    assert isinstance(api(qc, "auth.auth_token").sync(client=stale, body=body), models.AuthToken)

    wrong = api(qc, "auth.auth_token").sync(
        client=anonymous(qc, live_server),
        body=models.AuthTokenRequest(username=alice.user.username, password="wrong"),
    )
    assert isinstance(wrong, models.ValidationError)
    assert wrong["non_field_errors"] == ["Unable to log in with provided credentials."]
