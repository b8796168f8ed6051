"""``flask handover purge`` (retention) and ``flask handover flag-overdue`` (for cron or the worker)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core.db import db
from handover import acceptance, images, retention

handover_cli = AppGroup("handover", help="Handover retention and overdue acknowledgements.")


@handover_cli.command("purge")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Days after discharge to keep clinical content (default HANDOVER_RETENTION_DAYS).")
def purge(days):
    """Blank clinical content, identifiers and photos of patients discharged longer ago than the retention period.
    Audit entries are kept."""

    days = current_app.config["HANDOVER_RETENTION_DAYS"] if days is None else days
    ids, keys = retention.purge_expired(retention_days=days)
    db.session.commit()
    images.delete_files(keys)  # only after the commit: a failed purge keeps the photos
    click.echo(f"purged {len(ids)} patient(s) discharged more than {days} day(s) ago; {len(keys)} photo(s) deleted")


@handover_cli.command("flag-overdue")
def flag_overdue():
    """Notify coordinators of handovers not accepted within their team's set time (idempotent)."""

    flagged = acceptance.flag_overdue()
    db.session.commit()
    click.echo(f"flagged {len(flagged)} overdue handover(s)")
