"""Notification centre pages (the notifications issue fills this in)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def centre():
    return render_template("notifications/centre.html")
