"""The documentation keeps up with the code (in the manner of datasette's test_docs.py): every
setting, every control-API method and every plugin hook is documented in docs/, and every
reference in the repository points at something the repository contains.

When one of these fails, the message says what to add where.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from viewbox.config import Settings
from viewbox.control.dispatch import Controller
from viewbox.plugins.hooks import ViewboxHooks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def table_names(path: Path) -> set[str]:
    """The backticked names in the first column of the document's tables."""
    names: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| "):
            names.update(re.findall(r"`([^`\s]+)`", line.split(" | ")[0]))
    return names


@pytest.mark.parametrize("setting", [f.name for f in dataclasses.fields(Settings)])
def test_every_setting_is_documented(setting):
    assert setting in table_names(DOCS / "configuration.md"), (
        f"the setting {setting!r} (config.Settings) is not documented: add a row "
        f"'| `{setting}` | <default> | <what it does> |' to the settings table of docs/configuration.md")


def _method_names() -> list[str]:
    settings = Settings(data_root=Path("/nonexistent/viewbox-docs-test"))
    return Controller(SimpleNamespace(settings=settings)).registry.names()


@pytest.mark.parametrize("method", _method_names())
def test_every_control_method_is_documented(method):
    assert method in table_names(DOCS / "control-api.md"), (
        f"the control-API method {method!r} (in the registry) is not documented: add a row "
        f"'| `{method}` | <parameters> | <what it does> | <reply> |' to the Methods table of "
        "docs/control-api.md (an alias goes in parentheses after its method's name)")


@pytest.mark.parametrize("hook", [name for name in vars(ViewboxHooks) if name.startswith("viewbox_")])
def test_every_plugin_hook_is_documented(hook):
    assert any(re.search(rf"`{hook}[`(]", path.read_text(encoding="utf-8")) for path in DOCS.glob("*.md")), (
        f"the plugin hook {hook!r} (plugins/hooks.py) is not documented: describe `{hook}(…)` in the "
        "Plugins section of docs/control-api.md")


# Documents that exist only outside this repository (the team's working notes): the project
# must stand alone, so nothing may send a reader to them.
OUTSIDE = re.compile(
    r"spec §|notes §|CONTROL-API\.md|NSPREDICATE\.md|horos-xmlrpc-notes|peers\.md|benchmarking\.md"
    r"|DESIGN\.md|DESIGN notes|/work/|\.\./shared|reference notes|reference/")
CHECKED = [ROOT / "README.md", *DOCS.glob("*.md"), *(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py"),
           *(ROOT / "bench").glob("*.py"), *(ROOT / "scripts").glob("*"), ROOT / "pyproject.toml"]
CHECKED += [p for p in (ROOT / "src" / "viewbox" / "web" / "static").glob("*") if p.suffix in (".js", ".html")]


def _lines(path: Path) -> list[tuple[int, str]]:
    return list(enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1))


def test_nothing_points_outside_the_repository():
    this_file = Path(__file__).resolve()
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in CHECKED if path.is_file() and path.resolve() != this_file
             for number, line in _lines(path) if OUTSIDE.search(line)]
    assert not found, ("these lines refer to documents the repository does not contain; write what the "
                       "code relies on into docs/ and point there instead:\n" + "\n".join(found))


def test_every_docs_path_and_link_exists():
    missing = []
    for path in CHECKED:
        if not path.is_file():
            continue
        for number, line in _lines(path):
            for target in re.findall(r"\b((?:docs|tests|src|bench|scripts)/[\w./-]*\w)", line):
                if not (ROOT / target).exists() and not (ROOT / target.split("#")[0]).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {target}")
            if path.suffix == ".md":
                for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", line):
                    if not (path.parent / target).exists():
                        missing.append(f"{path.relative_to(ROOT)}:{number}: link {target}")
    assert not missing, "these references name files the repository does not have:\n" + "\n".join(missing)
