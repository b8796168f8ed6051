"""``flask channels purge`` (retention; the worker runs it too), ``flask channels export --email`` (subject access),
``flask channels hold`` (legal hold) and ``flask channels retention``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from channels import governance
from core.db import db
from core.errors import DomainError

channels_cli = AppGroup("channels", help="Team channels: retention, legal hold, subject-access export.")


def _fail(exc: DomainError):
    db.session.rollback()
    raise click.ClickException(exc.detail)


@channels_cli.command("purge")
def purge():
    """Delete posts older than each team's retention period (channels on legal hold are kept)."""
    count = governance.purge_expired()
    db.session.commit()
    click.echo(f"purged {count} post(s)")


@channels_cli.command("export")
@click.option("--email", required=True, help="The person whose posts to export.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Folder for the two files (default: here).")
def export(email, out):
    """Everything one person wrote in channels, as JSON and as a readable HTML page."""
    try:
        data = governance.export_person(email)
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"channels-export-user-{data['person']['id']}"
    stem.with_suffix(".json").write_text(governance.to_json(data), encoding="utf-8")
    stem.with_suffix(".html").write_text(governance.export_html(data), encoding="utf-8")
    click.echo(f"wrote {stem}.json and {stem}.html ({len(data['posts'])} post(s))")


@channels_cli.command("hold")
@click.argument("channel_id", type=int)
@click.argument("state", type=click.Choice(["on", "off"]))
def hold(channel_id, state):
    """Place (on) or lift (off) a legal hold: a held channel is never purged."""
    from channels.models import Channel

    channel = db.session.get(Channel, channel_id)
    if channel is None:
        raise click.ClickException(f"No channel with id {channel_id}.")
    governance.set_legal_hold(channel, None, state == "on")
    db.session.commit()
    click.echo(f"legal hold {state} for channel {channel_id}")


@channels_cli.command("retention")
@click.argument("team_id", type=int)
@click.argument("days", type=int)
def retention(team_id, days):
    """Keep a team's channel posts for DAYS days."""
    from core.accounts import Team

    team = db.session.get(Team, team_id)
    if team is None:
        raise click.ClickException(f"No team with id {team_id}.")
    try:
        governance.set_retention(team, None, days)
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"team {team_id} keeps channel posts for {days} day(s)")
