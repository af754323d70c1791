"""Settings from flat keyword arguments, as tests wrote them before settings had groups."""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

from streamway.config import Settings


def flat_settings(**values: Any) -> Settings:
    """A :class:`Settings` whose fields named in ``values`` (``store_url=...``, named as the
    ``STREAMWAY_*`` variables are) are set in the group that has them (both groups for
    ``aws_region``); everything else is read from the environment, as ``Settings()`` reads it.
    A name no group has is an error, not silently ignored."""
    groups = typing.get_type_hints(Settings)
    chosen: dict[str, dict[str, Any]] = {group.name: {} for group in fields(Settings)}
    for name, value in values.items():
        owners = [group for group in chosen if name in groups[group].model_fields]
        if not owners:
            raise TypeError(f"no settings group has a field {name!r}")
        for group in owners:
            chosen[group][name] = value
    return Settings(**{group: groups[group](**chosen[group]) for group in chosen})
