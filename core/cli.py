"""Command-line groups: ``flask users``, ``flask tokens``, ``flask audit`` and ``flask demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app, url_for
from flask.cli import AppGroup

from core import accounts, audit, backup, mail, passwords, registry
from core.db import db
from core.errors import DomainError
from core.links import public_base_url

users_cli = AppGroup("users", help="Manage accounts.")
tokens_cli = AppGroup("tokens", help="Manage personal API tokens.")
audit_cli = AppGroup("audit", help="Check the audit trail.")
demo_cli = AppGroup("demo", help="Demo data.")
backup_cli = AppGroup("backup", help="Back up and restore the database.")

def _fail(exc: DomainError):
    db.session.rollback()
    detail = exc.detail
    if exc.errors:
        detail += " " + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
    raise click.ClickException(detail)


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", required=True)
@click.option("--admin", is_flag=True, default=False)
@click.option("--grade", default=None)
@click.option("--staff-group", default="nursing")
@click.option("--mobile", default=None)
def create_user(email, name, password, admin, grade, staff_group, mobile):
    """Create an account."""
    try:
        user = accounts.create_user(email=email, display_name=name, password=password, is_admin=admin, grade=grade,
                                    staff_group=staff_group, mobile=mobile)
    except DomainError as exc:
        _fail(exc)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"created user {user.id} <{user.email}>{' (administrator)' if admin else ''}")


@users_cli.command("reset-link")
@click.option("--email", required=True)
def reset_link(email):
    """Email (when MAIL_SERVER is set) or else print a one-time link with which the person chooses a new password
    (give a printed one to them in person or by a channel you trust). It works for RESET_LINK_HOURS, and once."""
    user = accounts.user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account with email {email}")
    try:
        token = passwords.issue_reset_link(user)
    except DomainError as exc:
        _fail(exc)
    base = public_base_url()
    with current_app.test_request_context():
        path = url_for("auth.reset_password", token=token)
    hours = current_app.config["RESET_LINK_HOURS"]
    emailed = passwords.email_reset_link(user, f"{base}{path}")
    db.session.commit()
    if emailed:
        click.echo(f"Emailed the link to {user.email}. One use, for {hours} hours.")
        return
    if mail.enabled():
        click.echo("The mail server did not take the mail: give this link to the person yourself.", err=True)
    click.echo(f"{base}{path}")
    click.echo(f"One use, for {hours} hours. Signs {user.display_name} out everywhere once used.", err=True)


@tokens_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default="cli")
def create_token(email, name):
    """Create a personal API token and print it (shown once)."""
    user = accounts.user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account with email {email}")
    _, secret = accounts.create_token(user, name)
    db.session.commit()
    click.echo(secret)


@audit_cli.command("verify")
@click.option("--anchor", default=None, help="A hash printed earlier by `flask audit head`.")
def verify(anchor):
    """Recompute the hash chain; exit 1 naming the first bad entry."""
    result = audit.verify(anchor)
    click.echo(str(result))
    if not result.ok:
        sys.exit(1)


@audit_cli.command("head")
def head():
    """Print the latest entry's id and hash, to keep somewhere else as an anchor."""
    entry = audit.head()
    click.echo(f"{entry.id} {entry.hash}" if entry else "empty")


@demo_cli.command("seed")
def seed():
    """Create (idempotently) a realistic demo trust and print the sign-ins."""
    lines: list[str] = []
    for seeder in registry.demo_seeders_of(current_app):
        lines.extend(seeder.seed() or [])
    db.session.commit()
    for line in lines:
        click.echo(line)


@backup_cli.command("create")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_create(path):
    """Back up the database to PATH (pg_dump custom format, or a SQLite copy) and PATH.json (its audit anchor)."""

    try:
        manifest = backup.create(path)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {path} at {manifest['created_at']}")
    click.echo(f"audit head {manifest['audit_head_id']} {manifest['audit_head_hash'] or 'empty'}"
               " (check a restore with: flask audit verify --anchor HASH)")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: the database is replaced by the backup.")
def backup_restore(path, yes):
    """Replace the database with a backup made by `flask backup create`; says what is lost. Stop the app first."""

    if not yes:
        click.confirm("This replaces the whole database with the backup. Go on?", abort=True)
    try:
        manifest, lost = backup.restore(path)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {path} (taken {manifest.get('created_at', 'at an unknown time')})")
    click.echo(str(lost) if lost else "nothing recorded after the backup was lost")
    if manifest.get("audit_head_hash"):
        click.echo(f"verify it: flask audit verify --anchor {manifest['audit_head_hash']}")


def register_cli(app) -> None:
    for group in (users_cli, tokens_cli, audit_cli, demo_cli, backup_cli):
        app.cli.add_command(group)
