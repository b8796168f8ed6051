"""``flask swaps expire``: what cron runs when the notifications worker does not (the worker runs the same task
every so often). Thin: the rule is ``rota.swaps.requests.expire_due``."""

from __future__ import annotations

import click

from core.db import db
from rota.swaps import requests as swap_requests


@click.group("swaps", help="Swaps, offers and open shifts.")
def swaps_cli():
    pass


@swaps_cli.command("expire", help="Expire requests whose shift started or whose time ran out (run from cron).")
def expire_command():
    count = swap_requests.expire_due()
    db.session.commit()
    click.echo(f"{count} request(s) expired.")
