"""Plug-ins found through entry points, the way pytest and `llm` find theirs.

A package registers a factory in its metadata (pyproject.toml):

    [project.entry-points."rag_service.generators"]
    mymodel = "my_package.generator:build"

and the service finds it once the package is installed. This project registers its built-ins
(the generators and ingestion's writer) the same way, so a plug-in is no second-class citizen.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from rag_service.core.errors import ProviderNotConfigured

GENERATORS = "rag_service.generators"
INGESTORS = "rag_service.ingestors"


def registered(group: str) -> dict[str, EntryPoint]:
    """The entry points of `group` by name (installed packages' metadata)."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load(group: str, name: str) -> Any:
    """The object entry point `name` of `group` refers to; `name` may also be a
    `module:attribute` path (loaded the same way, without registering it)."""
    found = registered(group)
    if name in found:
        return found[name].load()
    if ":" in name:
        return EntryPoint(name=name, value=name, group=group).load()
    raise ProviderNotConfigured(
        f"no {group} plug-in named {name!r}; installed: {', '.join(sorted(found)) or 'none'}"
        " (is the package installed? entry points come from its metadata)"
    )
