"""rota.compliance: filled in by its issue."""

from __future__ import annotations


def register(app, api) -> None:
    pass
