"""``flask autoroster worker``: the process that runs auto-roster jobs (``docs/operations.md``). Thin: the loop is
``jobs.work``."""

from __future__ import annotations

import logging
import signal
import threading

import click

from rota.autoroster import jobs


@click.group("autoroster", help="Auto-roster jobs.")
def autoroster_cli():
    pass


@autoroster_cli.command("worker", help="Run queued auto-roster jobs, one at a time, until stopped (SIGTERM/Ctrl-C "
                                       "stop it after the job in hand).")
@click.option("--poll", default=2.0, show_default=True, help="Seconds between looks for a queued job.")
@click.option("--once", is_flag=True, help="Run the jobs queued now, then exit.")
def worker_command(poll: float, once: bool):
    logging.basicConfig(level=logging.INFO)
    if once:
        click.echo(f"{jobs.run_pending()} job(s) run.")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    jobs.work(poll_seconds=poll, stop=stop)
