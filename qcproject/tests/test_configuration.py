"""Every environment variable settings.py reads is documented: in `.env.example` and in the
README's configuration table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def read_by_settings() -> set[str]:
    source = (ROOT / "qcproject" / "settings.py").read_text()
    names = set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))
    schema = re.search(r"env = environ\.Env\((.*?)\n\)", source, re.DOTALL).group(1)
    names |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)=\(", schema, re.MULTILINE))
    return names


def test_every_variable_is_in_env_example():
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert read_by_settings() - listed == set()


def test_every_variable_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.MULTILINE))
    assert read_by_settings() - table == set()
