"""The OpenAPI schema as a contract (qcproject/schema.py): valid OpenAPI, JSON bodies only,
public operations marked public, every error answer with its body, and the bodies the API
really sends for bad requests matching what the schema says. The generated client's tests
(test_client.py) drive the API through the same schema."""

import json

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

from tasks.services import task_create

pytestmark = pytest.mark.django_db

PUBLIC = {("/auth/token", "post"), ("/healthz", "get")}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def documented_body(schema, path, method, status):
    """The JSON schema the API's schema gives for an answer, its components alongside (so
    that `#/components/...` references resolve)."""
    response = schema["paths"][path][method]["responses"][str(status)]
    return {**response["content"]["application/json"]["schema"], "components": schema["components"]}


def assert_documented(schema, path, method, response):
    body = documented_body(schema, path, method, response.status_code)
    errors = list(OAS31Validator(body).iter_errors(response.json()))
    assert not errors, (response.status_code, response.content, [e.message for e in errors])


def test_schema_is_valid_openapi(schema):
    validate_spec(schema)


def test_request_bodies_are_json_only(schema):
    bodies = {
        (path, method): list(operation["requestBody"]["content"])
        for path, method, operation in operations(schema)
        if "requestBody" in operation
    }
    assert set(bodies) == {
        ("/auth/token", "post"),
        ("/personnel", "post"),
        ("/personnel/login", "post"),
        ("/personnel/{id}", "patch"),
        ("/personnel/{id}/set-password", "post"),
        ("/tasks", "post"),
        ("/tasks/{id}", "patch"),
        ("/tasks/{id}/complete", "post"),
        ("/tasks/{id}/decline", "post"),
        ("/tasks/{id}/reassign", "post"),
        ("/tasks/{id}/resolve", "post"),
    }
    assert all(media_types == ["application/json"] for media_types in bodies.values())


# Ends the token it is sent with: a browser session signs out at /accounts/logout/.
TOKEN_ONLY = {"/auth/logout"}


def test_public_operations_are_documented_public_and_the_others_need_credentials(schema):
    for path, method, operation in operations(schema):
        if (path, method) in PUBLIC:
            assert operation["security"] == [], path
            assert "401" not in operation["responses"] and "403" not in operation["responses"]
        elif path in TOKEN_ONLY:
            assert operation["security"] == [{"tokenAuth": []}], path
        else:
            assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}], path
            assert {"401", "403"} <= set(operation["responses"]), path


def test_every_error_answer_documents_its_body(schema):
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response.get("content", {})
                assert list(content) == ["application/json"], (path, method, status)
                assert content["application/json"]["schema"], (path, method, status)
                assert response["description"], (path, method, status)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(operation["responses"]), (path, method)


def test_unavailable_database_answer_is_documented_everywhere(schema):
    for path, method, operation in operations(schema):
        assert "503" in operation["responses"], (path, method)


def test_tasks_create_takes_and_answers_one_task_or_a_list(schema):
    operation = schema["paths"]["/tasks"]["post"]
    assert operation["requestBody"]["required"] is True
    components = schema["components"]["schemas"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    one, many = components[body["$ref"].rsplit("/", 1)[1]]["oneOf"]
    assert one == {"$ref": "#/components/schemas/TaskCreateRequest"}
    assert many == {"type": "array", "items": one}
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    one, many = components[created["$ref"].rsplit("/", 1)[1]]["oneOf"]
    assert one == {"$ref": "#/components/schemas/Task"}
    assert many == {"type": "array", "items": one}


@pytest.mark.parametrize(
    "path, method, statuses",
    [
        ("/auth/token", "post", ["200"]),
        ("/personnel/login", "post", ["200"]),
        ("/personnel/{id}/heartbeat", "post", ["200", "409"]),
        ("/tasks/{id}/complete", "post", ["200", "409"]),
        ("/tasks", "post", ["201", "400"]),
    ],
)
def test_main_operations_have_examples(schema, path, method, statuses):
    operation = schema["paths"][path][method]
    if "requestBody" in operation:
        assert operation["requestBody"]["content"]["application/json"]["examples"]
    for status in statuses:
        assert operation["responses"][status]["content"]["application/json"]["examples"], status


def test_every_example_matches_its_schema(schema):
    checked = 0
    for path, method, operation in operations(schema):
        media = [("request", operation.get("requestBody", {}).get("content", {}))]
        media += [(status, r.get("content", {})) for status, r in operation["responses"].items()]
        for where, content in media:
            if "application/json" not in content:
                continue
            body = {**content["application/json"]["schema"], "components": schema["components"]}
            for name, example in content["application/json"].get("examples", {}).items():
                errors = list(OAS31Validator(body).iter_errors(example["value"]))
                assert not errors, (path, method, where, name, [e.message for e in errors])
                checked += 1
    assert checked > 50


def test_path_ids_are_integers(schema):
    for path, method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"] == {"type": "integer", "minimum": 1}, (path, method)


# --- what the API sends matches what the schema says -----------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "[]",
        "3",
        '"a task"',
        json.dumps({}),
        json.dumps({"description": ""}),
        json.dumps({"description": 5, "status": "COMPLETED"}),
        json.dumps([{"description": "good"}, {"description": ""}]),
        json.dumps([{"description": "good"}, 7]),
        json.dumps([{"description": "good"}, {"description": "x", "extra": 1}]),
    ],
)
def test_bad_task_bodies_get_the_documented_400(api, schema, supervisor, raw):
    api.force_authenticate(supervisor)
    response = api.generic("POST", "/tasks", raw.encode(), content_type="application/json")
    assert response.status_code == 400
    assert_documented(schema, "/tasks", "post", response)


@pytest.mark.parametrize(
    "path, raw",
    [
        ("/personnel", "{}"),
        ("/personnel", '{"name": "", "username": "x", "password": "1"}'),
        ("/personnel", "[]"),
        ("/personnel/login", '{"person_id": "me"}'),
        ("/personnel/login", '{"person_id": 1, "name": "x"}'),
        ("/personnel/login", "{"),
        ("/tasks/{task}/reassign", '{"person_id": 0}'),
        ("/auth/token", '{"username": "boss", "password": "wrong"}'),
        ("/auth/token", "{}"),
    ],
)
def test_bad_bodies_get_the_documented_400(api, schema, supervisor, path, raw):
    (task,) = task_create(descriptions=["x"])
    api.force_authenticate(supervisor)
    response = api.generic(
        "POST", path.format(task=task.pk), raw.encode(), content_type="application/json"
    )
    assert response.status_code == 400
    documented = path.replace("{task}", "{id}")
    assert_documented(schema, documented, "post", response)


def test_refusals_get_the_documented_bodies(api, schema, make_person, supervisor):
    alice, bob = make_person("Alice"), make_person("Bob")
    (task,) = task_create(descriptions=["x"])
    form = "application/x-www-form-urlencoded"
    answers = [("/personnel/{id}/heartbeat", api.post(f"/personnel/{alice.pk}/heartbeat"), 401)]
    api.force_authenticate(alice.user)
    answers += [
        ("/personnel/{id}/heartbeat", api.post(f"/personnel/{alice.pk}/heartbeat"), 409),
        ("/personnel/{id}/heartbeat", api.post(f"/personnel/{bob.pk}/heartbeat"), 403),
        ("/tasks/{id}/complete", api.post("/tasks/987654/complete"), 404),
        ("/tasks", api.generic("POST", "/tasks", b"description=x", form), 403),
    ]
    api.force_authenticate(supervisor)
    answers += [
        ("/tasks/{id}/complete", api.post(f"/tasks/{task.pk}/complete"), 409),
        ("/personnel/{id}/sign-out", api.post(f"/personnel/{bob.pk}/sign-out"), 409),
        ("/tasks", api.generic("POST", "/tasks", b"description=x", form), 415),
        ("/personnel/login", api.generic("POST", "/personnel/login", b"person_id=1", form), 415),
    ]
    for path, response, status in answers:
        assert response.status_code == status, (path, response.content)
        assert_documented(schema, path, "post", response)
