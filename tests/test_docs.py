"""The docs move with the code: docs/configuration.md lists every setting under its group."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import AliasChoices

from streamway.aws_lambda.settings import ENV_NAMES, RuntimeSettings
from streamway.config import (
    AgentCoreSettings,
    ModelSettings,
    ObservabilitySettings,
    ServeSettings,
    Settings,
    StoreSettings,
    UploadSettings,
)
from streamway.config.base import GroupSettings

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: Each group of settings, by the heading of its section in docs/configuration.md.
SECTIONS: dict[str, type[GroupSettings] | type[RuntimeSettings]] = {
    "Serving": ServeSettings,
    "The native Lambda runtime": RuntimeSettings,
    "Agent and model": ModelSettings,
    "Object store and downloads": StoreSettings,
    "Uploads": UploadSettings,
    "Bedrock AgentCore contract and sessions": AgentCoreSettings,
    "Observability": ObservabilitySettings,
}


def variables(group: type[GroupSettings] | type[RuntimeSettings]) -> dict[str, tuple[str, ...]]:
    """The group's variables: each field's first name, and all of its names in order."""
    if group is RuntimeSettings:
        return {names[0]: names for names in ENV_NAMES.values()}
    assert issubclass(group, GroupSettings)
    found: dict[str, tuple[str, ...]] = {}
    for field, info in group.model_fields.items():
        names: tuple[str, ...] = (f"STREAMWAY_{field.upper()}",)
        if isinstance(info.validation_alias, AliasChoices):
            names = tuple(str(choice) for choice in info.validation_alias.choices)
        found[names[0]] = names
    return found


def documented() -> dict[str, dict[str, tuple[str, ...]]]:
    """Per ``##`` section, each table row's variable and its names (it, then the *also* ones)."""
    sections: dict[str, dict[str, tuple[str, ...]]] = {}
    rows: dict[str, tuple[str, ...]] = {}
    for line in (DOCS / "configuration.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            rows = sections.setdefault(line.removeprefix("## ").strip(), {})
        elif line.startswith("| `"):
            names = tuple(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
            assert names, line
            assert names[0] not in rows, f"{names[0]} is listed twice in one section"
            rows[names[0]] = names
    return sections


def test_every_group_has_a_section() -> None:
    groups = set(typing.get_type_hints(Settings).values()) | {RuntimeSettings}
    assert groups == set(SECTIONS.values())


def test_each_section_lists_exactly_its_groups_variables_with_their_aliases() -> None:
    sections = documented()
    for heading, group in SECTIONS.items():
        assert heading in sections, f"docs/configuration.md has no section {heading!r}"
        assert sections[heading] == variables(group), heading


def test_no_other_section_lists_variables() -> None:
    others = {h: rows for h, rows in documented().items() if h not in SECTIONS and rows}
    assert not others, f"not settings of any group: {others}"
