"""The docs move with the code: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from streamway.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_in_the_configuration_doc() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"STREAMWAY_{name.upper()}"
        for name in Settings.model_fields
        if f"`STREAMWAY_{name.upper()}`" not in text
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
