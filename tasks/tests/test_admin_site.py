"""The admin says what it is: qc-assign, not Django administration."""

import pytest

pytestmark = pytest.mark.django_db


def test_admin_pages_are_titled_qc_assign(client, supervisor):
    page = client.get("/admin/login/").content.decode()
    assert "<title>Log in | qc-assign</title>" in page
    assert "Django administration" not in page and "Django site admin" not in page
    client.force_login(supervisor)
    page = client.get("/admin/").content.decode()
    assert ">qc-assign</a>" in page and "Supervisor workspace" in page
    assert "Django administration" not in page
