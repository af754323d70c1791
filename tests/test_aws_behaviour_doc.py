"""Citations of docs/aws-behaviour.md point at sections it has."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "aws-behaviour.md"


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the ``##`` headings: lower case, punctuation dropped, spaces -> -."""
    headings = re.findall(r"^##+ (.+)$", markdown, flags=re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings
    }


def section_numbers(markdown: str) -> set[str]:
    return set(re.findall(r"^## (\d+)\. ", markdown, flags=re.MULTILINE))


def cited_files() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for tree in ("src", "tests"):
        files += sorted((REPO / tree).rglob("*.py"))
    return [file for file in files if file != DOC]


def citations(pattern: str) -> list[tuple[str, str]]:
    """(file, what ``pattern``'s group caught) for every citation of the doc in the repository."""
    return [
        (str(file.relative_to(REPO)), target)
        for file in cited_files()
        for target in re.findall(pattern, file.read_text(encoding="utf-8"))
    ]


def test_links_into_the_doc_name_its_headings() -> None:
    known = anchors(DOC.read_text(encoding="utf-8"))
    broken = [cited for cited in citations(r"aws-behaviour\.md#([\w-]+)") if cited[1] not in known]
    assert not broken, broken


def test_section_citations_name_its_sections() -> None:
    known = section_numbers(DOC.read_text(encoding="utf-8"))
    broken = [
        cited for cited in citations(r"aws-behaviour\.md\)? ?§(\d+)") if cited[1] not in known
    ]
    assert not broken, broken


def test_the_numbered_sections_keep_their_numbers() -> None:
    """Citations elsewhere use these numbers; renumbering would silently misdirect them."""
    text = DOC.read_text(encoding="utf-8")
    assert section_numbers(text) == {str(n) for n in range(1, 8)}
    assert "open-questions" in anchors(text)
    assert "2-lambda-response-streaming" in anchors(text)
