"""Fixtures of the QC portal's browser tests (the `browser` itself is in the root conftest)."""

import pytest


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="en-GB"
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def assigner(django_db_setup, tmp_path_factory):
    """`run_assigner --interval 0.5` on the test database, running beside the whole module."""
    from .browser import assigner_process

    with assigner_process(tmp_path_factory.mktemp("assigner") / "assigner.log") as proc:
        yield proc


@pytest.fixture
def expiring_sessions(settings, assigner, tmp_path):
    """A 2-second heartbeat timeout, for the live server (this process) and for a second
    assigner that sweeps with it."""
    from .browser import assigner_process

    settings.QC_HEARTBEAT_TIMEOUT = 2
    with assigner_process(tmp_path / "assigner.log", QC_HEARTBEAT_TIMEOUT="2"):
        yield 2
