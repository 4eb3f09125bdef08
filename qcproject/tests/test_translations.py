"""The translations are complete: every string marked in the sources (templates, Python, the
portal's script) has a translation, none of them fuzzy, in every language of LANGUAGES.

The catalogs are extracted afresh from the sources, as `make messages` does, on a copy of
the project, so a string added to a template without its translations fails here even
though nobody ran `make messages`.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("django", "djangojs")
# What the copy needs: the code and templates that carry strings, and the catalogs.
SKIP = shutil.ignore_patterns(
    ".*", "__pycache__", "staticfiles", "node_modules", "docs", "bench", "chaos", "*.sqlite3*"
)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    """The project's locale/ folder after `scripts/makemessages` ran on the current sources."""
    copy = tmp_path_factory.mktemp("sources") / "project"
    shutil.copytree(ROOT, copy, ignore=SKIP)
    subprocess.run(
        [str(copy / "scripts" / "makemessages"), sys.executable],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    return copy / "locale"


def languages() -> list[str]:
    return [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def problems(catalog: polib.POFile) -> list[str]:
    plural_forms = catalog.metadata.get("Plural-Forms", "")
    nplurals = int(plural_forms.split("nplurals=")[1].split(";")[0])
    found = []
    for entry in catalog:
        if entry.obsolete:
            continue
        if "fuzzy" in entry.flags:
            found.append(f"fuzzy: {entry.msgid!r}")
        elif entry.msgid_plural:
            forms = [entry.msgstr_plural.get(i, "") for i in range(nplurals)]
            if not all(forms):
                found.append(f"untranslated plural form: {entry.msgid!r}")
        elif not entry.msgstr:
            found.append(f"untranslated: {entry.msgid!r}")
    return found


def test_every_language_but_english_has_both_catalogs():
    assert languages() == ["de", "es"]
    for code in languages():
        for domain in DOMAINS:
            assert (ROOT / "locale" / code / "LC_MESSAGES" / f"{domain}.po").is_file()


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("code", ["de", "es"])
def test_every_string_in_the_sources_is_translated_and_none_is_fuzzy(extracted, code, domain):
    catalog = polib.pofile(str(extracted / code / "LC_MESSAGES" / f"{domain}.po"))
    assert len(catalog) > 20  # the extraction found the strings
    assert problems(catalog) == []
    assert not catalog.metadata_is_fuzzy


def test_the_check_itself_catches_untranslated_and_fuzzy_strings():
    catalog = polib.POFile()
    catalog.metadata = {"Plural-Forms": "nplurals=3; plural=(n != 1);"}
    catalog.append(polib.POEntry(msgid="Done", msgstr=""))
    catalog.append(polib.POEntry(msgid="Start", msgstr="Beginnen", flags=["fuzzy"]))
    catalog.append(
        polib.POEntry(
            msgid="%(n)s task",
            msgid_plural="%(n)s tasks",
            msgstr_plural={0: "%(n)s Aufgabe", 1: "%(n)s Aufgaben"},
        )
    )
    catalog.append(polib.POEntry(msgid="Queue", msgstr="Warteschlange"))
    assert problems(catalog) == [
        "untranslated: 'Done'",
        "fuzzy: 'Start'",
        "untranslated plural form: '%(n)s task'",
    ]


@pytest.mark.parametrize("code", ["de", "es"])
def test_compiled_catalogs_are_current(code):
    """`make` compiles each .po to its .mo; a .mo older than its .po would serve stale text."""
    for domain in DOMAINS:
        po = ROOT / "locale" / code / "LC_MESSAGES" / f"{domain}.po"
        mo = po.with_suffix(".mo")
        assert mo.is_file(), f"{mo} missing: run make"
        assert mo.stat().st_mtime >= po.stat().st_mtime, f"{mo} is stale: run make"
