"""The token authentication's statement as the first of every request: it stands in for the
connection's health check (docs/engine.md, "MySQL and MariaDB traps", 9). The statement
itself, and what makes a token work, are tested in test_tokens.py."""

import pytest

from personnel.services import token_issue


def _drop_connection_from_the_server_side():
    """The database ends this thread's connection (as a restart would), unseen by Django."""
    import MySQLdb
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (connection_id,) = cursor.fetchone()
    s = connection.settings_dict
    admin = MySQLdb.connect(
        host=s["HOST"] or "127.0.0.1",
        port=int(s["PORT"] or 3306),
        user=s["USER"],
        passwd=s["PASSWORD"],
    )
    try:
        admin.cursor().execute(f"KILL {int(connection_id)}")
    finally:
        admin.close()


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["heartbeat", "login"])
def test_a_connection_the_database_dropped_is_replaced_not_reported(client, make_person, name):
    """No health-check ping before a token request: the token's read finds a dead
    connection, which is closed, and the request goes on on a new one."""
    from tasks.sessions import person_login

    alice = make_person("Alice")
    person_login(person_id=alice.pk)
    key = token_issue(user=alice.user).token
    path = f"/personnel/{alice.pk}/heartbeat" if name == "heartbeat" else "/personnel/login"
    auth = {"HTTP_AUTHORIZATION": f"Token {key}", "content_type": "application/json"}
    assert client.post(path, **auth).status_code == 200  # the connection is in use, and kept
    _drop_connection_from_the_server_side()

    assert client.post(path, **auth).status_code == 200
    assert client.post(path, **auth).status_code == 200


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)
def test_a_token_request_sends_no_health_check_ping(client, make_person, monkeypatch):
    from django.db import connections

    from tasks.sessions import person_login

    alice = make_person("Alice")
    person_login(person_id=alice.pk)
    key = token_issue(user=alice.user).token
    auth = {"HTTP_AUTHORIZATION": f"Token {key}", "content_type": "application/json"}
    client.post(f"/personnel/{alice.pk}/heartbeat", **auth)
    db = connections["default"]
    pings = []
    real = type(db).is_usable
    monkeypatch.setattr(type(db), "is_usable", lambda self: pings.append(1) or real(self))
    db.health_check_done = False  # a new request on the kept connection, as a server does it

    assert client.post(f"/personnel/{alice.pk}/heartbeat", **auth).status_code == 200
    assert pings == []
