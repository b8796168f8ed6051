"""``flask notifications worker`` / ``escalate`` / ``status``."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from core.db import db
from notifications import broadcasts, sms, worker
from notifications.models import OutboxMessage

notifications_cli = AppGroup("notifications", help="Deliver the outbox, escalate broadcasts.")


@notifications_cli.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--max-seconds", type=float, default=None, help="Stop after this many seconds.")
@click.option("--batch", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--idle-sleep", type=float, default=1.0, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Texts in flight at once (default NOTIFICATIONS_SEND_CONCURRENCY).")
def worker_command(once, max_seconds, batch, idle_sleep, concurrency):
    """Send queued messages (several workers may run at once on PostgreSQL) and run the periodic tasks
    (escalation steps, handover's overdue flag, ...) every NOTIFICATIONS_PERIODIC_SECONDS."""
    if not sms.sms_enabled():
        click.echo("SMS is off (no TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN / sender): only periodic tasks run.")
    stats = worker.run(once=once, max_seconds=max_seconds, batch=batch, idle_sleep=idle_sleep,
                       concurrency=concurrency)
    click.echo(f"claimed {stats.claimed} sent {stats.sent} retried {stats.retried} failed {stats.failed} "
               f"lost-lease {stats.lost_lease} escalations {stats.escalations} periodic "
               f"{sum(stats.periodic_runs.values())} periodic-failed {sum(stats.periodic_failures.values())} "
               f"put-back {stats.put_back}")


@notifications_cli.command("escalate")
def escalate_command():
    """Take every due escalation step now."""
    taken = broadcasts.escalate_due()
    db.session.commit()
    click.echo(f"{taken} escalation step(s) taken")


@notifications_cli.command("status")
def status_command():
    """Outbox counts by state."""
    rows = db.session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
    click.echo(f"SMS {'on' if sms.sms_enabled() else 'off'}")
    for state, count in rows:
        click.echo(f"{state.value}: {count}")


push_cli = AppGroup("push", help="Web Push (VAPID keys).")


@push_cli.command("keys")
@click.option("--force", is_flag=True, help="Replace existing keys (every device must subscribe again).")
def push_keys(force):
    """Create this server's VAPID keys once, in the instance folder (never commit it). VAPID_PRIVATE_KEY and
    VAPID_PUBLIC_KEY in the environment take precedence."""
    from flask import current_app

    from notifications import push

    path, created = push.write_keys(current_app.instance_path, force=force)
    public = json.loads(path.read_text())["VAPID_PUBLIC_KEY"]
    click.echo(f"{'Wrote' if created else 'Kept the existing'} {path}\nPublic key: {public}")
