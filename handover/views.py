"""Handover pages (structured SBAR / I-PASS handover arrives with the handover issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("handover", __name__)
