"""Demo data for staff requests (filled in below)."""

from __future__ import annotations
