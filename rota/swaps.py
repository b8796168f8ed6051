"""rota.swaps: filled in by its issue."""

from __future__ import annotations


def register(app, api) -> None:
    from rota import swap_models  # noqa: F401
