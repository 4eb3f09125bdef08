"""The supervisor workspace in the supervisor's language: the dashboard and its script's
catalog, the interventions' messages, the import wizard, the lists, forms and the models'
names. (That every marked string has its German and Spanish translation is
qcproject/tests/test_translations.py; here the strings reach the pages.)"""

import io
import re
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.utils import translation

from personnel.models import Person
from tasks.admin.history import _when
from tasks.models import EndReason, Task, TaskStatus
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


def client_in(client, supervisor, language: str):
    """The supervisor's browser, with the language chosen (the chooser's cookie)."""
    client.force_login(supervisor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def german(client, supervisor):
    return client_in(client, supervisor, "de")


@pytest.fixture
def spanish(client, supervisor):
    return client_in(client, supervisor, "es")


def told(response) -> list[str]:
    """What the page after a redirect tells the supervisor (and so no longer keeps)."""
    return [str(m) for m in response.context["messages"]]


def test_dashboard_loads_its_scripts_catalog_first_and_speaks_german(german, alice):
    task_create(descriptions=["weld seam A", "weld seam B"])
    person_login(person_id=alice.pk)
    html = german.get("/admin/tasks/task/dashboard/").content.decode()
    catalog, script = html.index('src="/jsi18n/"'), html.index("dashboard/dashboard.js")
    assert catalog < script  # both deferred: they run in this order
    assert '<html lang="de"' in html
    for text in ("Übersicht für Vorgesetzte", "Warteschlange", "Über den Tag und die Woche"):
        assert text in html
    assert re.search(r"Stand \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\)", html)
    held = Task.objects.get(in_progress_person=alice.pk)
    assert f"Aufgabe {held.pk} zurück in die Warteschlange stellen" in html


def test_the_script_catalog_carries_the_dashboards_strings(client):
    german = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Aktualisiert vor %(duration)s" in german and "Fortsetzen" in german
    spanish = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Actualizado hace %(duration)s" in spanish and "Reanudar" in spanish


def test_interventions_tell_the_supervisor_in_german(german, alice, bob):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)  # a
    r = german.post(f"/admin/tasks/task/{a.pk}/release/", follow=True)
    assert told(r) == [f"Aufgabe {a.pk} ist zurück in der Warteschlange."]
    # The service's reason stays English (as the API gives it), inside a German sentence.
    (c,) = task_create(descriptions=["c"])
    r = german.post(f"/admin/tasks/task/{c.pk}/cancel/", follow=True)
    assert told(r) == [f"Aufgabe {c.pk} ist storniert."]
    r = german.post(f"/admin/tasks/task/{c.pk}/release/", follow=True)
    assert told(r) == [f"Aufgabe {c.pk}: Task {c.pk} is not in progress."]
    r = german.post(f"/admin/tasks/task/{c.pk}/cancel/", follow=True)
    assert told(r) == [f"Aufgabe {c.pk}: Task {c.pk} is cancelled."]  # not "storniert"
    held = Task.objects.get(in_progress_person=alice.pk)
    r = german.post(f"/admin/personnel/person/{alice.pk}/sign-out/", follow=True)
    assert told(r) == [f"Alice ist abgemeldet; Aufgabe {held.pk} ist zurück in der Warteschlange."]
    Task.objects.filter(status=TaskStatus.PENDING).update(status=TaskStatus.CANCELLED)
    person_login(person_id=bob.pk)  # nothing left to hand him
    r = german.post(f"/admin/personnel/person/{bob.pk}/sign-out/", follow=True)
    assert told(r) == ["Bob ist abgemeldet."]


def test_list_actions_and_their_refusals_in_spanish(spanish, alice, bob, make_person):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=bob.pk)  # a
    person_login(person_id=alice.pk)  # b; nobody is free now
    carol = make_person("Carol").pk
    person_login(person_id=carol)  # free
    page = spanish.get("/admin/tasks/task/").content.decode()
    for text in (
        "Devolver a la cola las tareas en curso seleccionadas",
        "Cancelar las tareas seleccionadas",
        "(una persona libre)",
        "Pendiente",  # the status, in the list and its filter
    ):
        assert text in page
    r = spanish.post(
        "/admin/tasks/task/",
        {"action": "reassign_selected", "_selected_action": [a.pk, b.pk], "person": carol},
        follow=True,
    )
    assert told(r) == ["Seleccione exactamente una tarea para reasignar."]


def test_adding_tasks_counts_them_in_german(german):
    form = german.get("/admin/tasks/task/add/").content.decode()
    assert "Beschreibungen" in form and "Eine Aufgabe pro Zeile" in form
    r = german.post("/admin/tasks/task/add/", {"descriptions": "weld A\nweld B\n"}, follow=True)
    assert told(r) == ["2 Aufgaben angelegt."]
    r = german.post("/admin/tasks/task/add/", {"descriptions": "weld C"}, follow=True)
    assert told(r) == ["1 Aufgabe angelegt."]


def upload(client, name, content: bytes):
    f = io.BytesIO(content)
    f.name = name
    return client.post("/admin/tasks/task/import/", {"file": f})


def test_import_wizard_in_spanish_counts_rows_and_skips(spanish):
    page = spanish.get("/admin/tasks/task/import/").content.decode()
    for text in ("Subir un archivo", "Empiece con la plantilla:", "Codificación", "«CSV UTF-8»"):
        assert text in page
    content = b"description;external_id\nInspect lot 1;L-1\nInspect lot 2;L-2\n"
    preview = upload(spanish, "lotes.csv", content)
    html = preview.content.decode()
    assert "2 filas, todas válidas. Separador de columnas: punto y coma." in html
    assert 'value="Importar 2 tareas"' in html
    r = spanish.post(
        "/admin/tasks/task/import/",
        {"token": preview.context["token"], "confirm": "1"},
        follow=True,
    )
    assert told(r) == ["Se importaron 2 tareas de lotes.csv."]
    again = upload(spanish, "lotes.csv", content)
    r = spanish.post(
        "/admin/tasks/task/import/", {"token": again.context["token"], "confirm": "1"}, follow=True
    )
    assert told(r) == [
        "Se importaron 0 tareas de lotes.csv. 2 tareas ya se habían importado y se omiten."
    ]


def test_import_errors_in_german(german):
    html = upload(german, "a.csv", b"description,external_id\nok,A\n,B\nfine,C\n").content.decode()
    assert "a.csv: 1 von 3 Zeilen ist ungültig. Es wurde nichts importiert" in html
    html = upload(german, "empty.csv", b"description\n").content.decode()
    assert "Die Datei enthält keine Aufgaben." in html
    assert "Zeilen ist ungültig" not in html  # no "1 of 0 rows" for a file without rows


def test_lists_and_filters_use_the_translated_names(german, alice):
    task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    people = german.get("/admin/personnel/person/").content.decode()
    # Soft hyphens let the long German headings break in the list (static/qc_admin/people.css).
    for text in ("Benutzer\u00adname", "Aktuelle Aufgabe", "Nach be\u00adschäftigt"):
        assert text in people
    assignments = german.get("/admin/tasks/assignment/").content.decode()
    for text in ("Zuweisungen", "Anlass", "Bei der Anmeldung", "Nach Grund des Endes"):
        assert text in assignments


def test_models_names_and_choices_follow_the_active_language():
    with translation.override("es"):
        assert str(Task._meta.verbose_name_plural) == "tareas"
        assert str(Person._meta.verbose_name) == "persona de QC"
        assert str(TaskStatus.IN_PROGRESS.label) == "En curso"
        assert str(EndReason.STALE.label) == "Devuelta: sesión sin señal"
    with translation.override("en"):
        assert str(TaskStatus.IN_PROGRESS.label) == "In progress"


@pytest.mark.parametrize(
    "language, shown",
    [("en", "Dec 02 05:37"), ("de", "2. Dez 05:37"), ("es", "2 dic 05:37")],
)
def test_assignment_times_are_short_in_every_language(settings, language, shown):
    settings.TIME_ZONE = "UTC"
    with translation.override(language):
        html = _when(datetime(2026, 12, 2, 5, 37, 12, tzinfo=UTC))
    assert html == f'<time datetime="2026-12-02T05:37:12+00:00">{shown}</time>'


def test_english_stays_the_default_for_the_workspace(client, supervisor, alice):
    client.force_login(supervisor)
    task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    r = client.post(f"/admin/personnel/person/{alice.pk}/sign-out/", follow=True)
    (message,) = told(r)
    assert message.startswith("Alice is signed out; task ")


def test_login_panel_and_its_messages_in_german(german, alice):
    page = german.get(f"/admin/personnel/person/{alice.pk}/change/").content.decode()
    for text in ("Benutzerkonto", "Letzte Anmeldung:", "Passwort setzen …", "Alle API-Tokens"):
        assert text in page
    r = german.post(f"/admin/personnel/person/{alice.pk}/deactivate/", follow=True)
    assert told(r) == [
        "Das Benutzerkonto von Alice ist deaktiviert; Arbeitssitzung und API-Tokens dieser "
        "Person sind beendet."
    ]
    r = german.post(f"/admin/personnel/person/{alice.pk}/reactivate/", follow=True)
    assert told(r) == ["Das Benutzerkonto von Alice ist wieder aktiv."]
    r = german.post(f"/admin/personnel/person/{alice.pk}/revoke-tokens/", follow=True)
    assert told(r) == ["Alice: 0 API-Tokens widerrufen."]
    form = german.get(f"/admin/personnel/person/{alice.pk}/password/").content.decode()
    assert "Passwort von Alice setzen" in form and "Das neue Passwort gilt sofort." in form


def test_a_locked_sign_in_is_explained_in_the_browsers_language(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/",
            {"username": alice.user.username, "password": "guess"},
            HTTP_ACCEPT_LANGUAGE="es",
        )
    r = client.post(
        "/accounts/login/",
        {"username": alice.user.username, "password": "guess"},
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert r.status_code == 429
    html = r.content.decode()
    assert "Inicio de sesión bloqueado" in html
    assert re.search(r"Vuelva a intentarlo dentro de \d+ minutos? o pida a un supervisor", html)
    # Programs get the API's English message, whatever language they name.
    r = client.post(
        "/accounts/login/",
        {"username": alice.user.username, "password": "guess"},
        HTTP_ACCEPT="application/json",
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert r.json()["detail"].startswith("Too many failed sign-ins")


def test_webhook_pages_in_spanish(spanish):
    r = spanish.post(
        "/admin/events/webhookendpoint/add/",
        {
            "url": "https://mes.example.com/qc",
            "event_types": ["task.completed"],
            "is_active": "on",
        },
        follow=True,
    )
    secret = "El secreto de firma de https://mes.example.com/qc es whsec_"
    assert [m for m in told(r) if m.startswith(secret)]  # beside Django's own "added"
    page = r.content.decode()
    for text in ("Endpoints de webhook", "Tipos de evento", "Activar y entregar lo pendiente"):
        assert text in page
    form = spanish.get("/admin/events/webhookendpoint/add/").content.decode()
    assert "Tarea completada" in form and "Ninguno marcado" in form
