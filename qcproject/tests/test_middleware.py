"""The lazy message middleware: the storage is made only for a request that uses it, and
messages still reach the next page."""

import pytest
from django.contrib import messages
from django.http import HttpResponse
from django.test import RequestFactory

from qcproject.middleware import MessageMiddleware

pytestmark = pytest.mark.django_db


def _through_middleware(view, request):
    from django.contrib.sessions.middleware import SessionMiddleware

    return SessionMiddleware(MessageMiddleware(view))(request)


def test_a_request_that_uses_no_messages_makes_no_storage(monkeypatch):
    made = []
    from qcproject import middleware

    monkeypatch.setattr(middleware, "default_storage", lambda request: made.append(1))
    response = _through_middleware(lambda request: HttpResponse("ok"), RequestFactory().get("/"))

    assert response.status_code == 200 and made == []


def test_a_message_added_reaches_the_next_request():
    def add(request):
        messages.success(request, "Katherine Johnson is signed out.")
        return HttpResponse("ok")

    first = _through_middleware(add, RequestFactory().get("/"))
    cookie = first.cookies["messages"].value

    seen = []

    def read(request):
        seen.extend(str(m) for m in messages.get_messages(request))
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.COOKIES["messages"] = cookie
    _through_middleware(read, request)
    assert seen == ["Katherine Johnson is signed out."]
