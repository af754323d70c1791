"""docs/architecture.md names every module of streamway, and names none that does not exist.

The tree under "The parts" is read as a tree: an entry is a name ending in ``.py`` or ``/``
at the start of its line, two columns deeper than its package; the words after it, and the
lines that continue them (indented to the description column), are its description.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "streamway"
DOC = REPO / "docs" / "architecture.md"

_ENTRY = re.compile(r"( *)([\w.-]+(?:\.py|/))(?: +|$)")


def documented_paths(text: str) -> set[str]:
    """Paths below ``src/streamway/`` that the doc's tree names (packages without the ``/``)."""
    block = text.split("```\nsrc/streamway/\n", 1)[1].split("```", 1)[0]
    parents: list[tuple[int, str]] = [(2, "")]  # (indent of its entries, path with "/")
    paths: set[str] = set()
    for number, line in enumerate(block.splitlines(), 1):
        entry = _ENTRY.match(line)
        if entry is None:
            continue
        indent, name = len(entry[1]), entry[2]
        while len(parents) > 1 and indent < parents[-1][0]:
            parents.pop()
        assert indent == parents[-1][0], f"tree line {number} is not under a package: {line!r}"
        path = parents[-1][1] + name
        paths.add(path.rstrip("/"))
        if name.endswith("/"):
            parents.append((indent + 2, path))
    return paths


def actual_modules() -> set[str]:
    """Each module (``__init__.py`` stands for its package) and package below src/streamway."""
    modules = set()
    for file in SRC.rglob("*.py"):
        relative = file.relative_to(SRC)
        if file.name == "__init__.py":
            if relative.parent != Path():
                modules.add(relative.parent.as_posix())
        else:
            modules.add(relative.as_posix())
    return modules


def test_every_module_is_in_the_architecture_doc() -> None:
    missing = sorted(actual_modules() - documented_paths(DOC.read_text(encoding="utf-8")))
    assert not missing, f"modules missing from docs/architecture.md's tree: {missing}"


def test_the_architecture_doc_names_nothing_that_does_not_exist() -> None:
    named = documented_paths(DOC.read_text(encoding="utf-8"))
    stale = sorted(path for path in named if not (SRC / path).exists())
    assert not stale, f"docs/architecture.md names what src/streamway/ does not have: {stale}"


def test_the_tree_reader_follows_indentation() -> None:
    text = (
        "```\nsrc/streamway/\n"
        "  cli/             the command\n"
        "    serve.py       serve: one/two\n"
        "                   a wrapped description, naming agent/ and x.py  in passing\n"
        "  config.py        settings\n"
        "```\n"
    )
    assert documented_paths(text) == {"cli", "cli/serve.py", "config.py"}
