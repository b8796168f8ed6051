"""Extension points: how a package plugs into another without that one importing it, in one small typed API.

Each point is named by a constant (never a bare string elsewhere) and has ``register_<point>(...)`` and
``<point>_of(app)`` (or a lookup). A registration that is malformed, or that clashes with one already made under the
same name, is refused with :class:`RegistrationError` naming both, at start-up rather than on the first request.

Per application (kept in ``app.extensions[<constant>]`` as a list, under the keys they have always had, in
registration order; entries are named tuples, so ``for name, run in ...`` still reads them):

* ``PERIODIC_TASKS``: ``(name, run)``; the notifications worker calls ``run()`` every so often and commits.
* ``HOME_PANELS``: ``panel(user) -> dict | None``, the cards on the home page.
* ``PROFILE_SECTIONS``: a template included on the profile page.
* ``DEMO_SEEDERS``: ``(order, label, seed)``; ``flask demo seed`` runs them by order.
* ``STREAM_POLL_SOURCES``: ``source(last) -> (events, last)``; the SQLite stream service calls each about once a
  second (``notifications.realtime``) to feed stream kinds other than notifications (a channel page's live updates).

Per process (notifications looks them up inside and outside requests; wiring registers them each time an app is
built, so registering the very same thing again is accepted):

* ``AUDIENCES``: ``resolver(team_id, params) -> [user ids]``, who a broadcast goes to.
* ``REPLY_HANDLERS``: ``handler(user_id, reference) -> (ok, reply_text)``, run when someone texts
  ``"<KEYWORD> <code>"``.
* ``REFERENCE_ACTIONS``: ``action(id) -> (label, url[, "post"]) | None``, the button on a broadcast about
  ``"<kind>:<id>"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

PERIODIC_TASKS = "periodic_tasks"
HOME_PANELS = "home_panels"
PROFILE_SECTIONS = "profile_sections"
DEMO_SEEDERS = "demo_seeders"
STREAM_POLL_SOURCES = "realtime_poll_sources"
AUDIENCES = "audiences"
REPLY_HANDLERS = "reply_handlers"
REFERENCE_ACTIONS = "reference_actions"

# Texted keywords the SMS consent and acknowledgement rules own: no package may take one over.
RESERVED_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "START", "UNSTOP", "HELP",
                               "INFO", "OK", "SEEN", "ACK", "NO"})

HomePanel = Callable[[Any], Any]
Resolver = Callable[[int, dict], list[int]]
ReplyHandler = Callable[[int, "str | None"], tuple[bool, str]]
ReferenceAction = Callable[[int], "tuple | None"]


class RegistrationError(ValueError):
    """A registration that is malformed or clashes with an earlier one (a programming error, found at start-up)."""


class PeriodicTask(NamedTuple):
    name: str
    run: Callable[[], Any]


class DemoSeeder(NamedTuple):
    order: int
    label: str
    seed: Callable[[], list[str] | None]


@dataclass(frozen=True)
class Audience:
    name: str
    label: str
    resolver: Resolver


def _entries(app, point: str) -> list:
    return app.extensions.setdefault(point, [])


def _callable(point: str, what: str, fn) -> None:
    if not callable(fn):
        raise RegistrationError(f"{point}: {what} must be callable, not {fn!r}.")


def _name(point: str, what: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RegistrationError(f"{point}: {what} must be a non-empty string, not {value!r}.")
    return value


# ---------------------------------------------------------------------------------------- per application


def register_periodic_task(app, name: str, run: Callable[[], Any]) -> PeriodicTask:
    _name(PERIODIC_TASKS, "the task's name", name)
    _callable(PERIODIC_TASKS, f"task {name!r}", run)
    tasks = _entries(app, PERIODIC_TASKS)
    clash = next((t for t in tasks if t[0] == name), None)
    if clash is not None:
        raise RegistrationError(f"{PERIODIC_TASKS}: a task named {name!r} is already registered ({clash[1]!r}); "
                                f"refusing {run!r}.")
    task = PeriodicTask(name, run)
    tasks.append(task)
    return task


def periodic_tasks_of(app) -> list[PeriodicTask]:
    return [PeriodicTask(*t) for t in app.extensions.get(PERIODIC_TASKS, [])]


def register_home_panel(app, panel: HomePanel, *, first: bool = False) -> None:
    """``first``: before the panels registered so far (the coordinator's "what needs you now" leads)."""
    _callable(HOME_PANELS, "a panel", panel)
    panels = _entries(app, HOME_PANELS)
    if panel in panels:
        raise RegistrationError(f"{HOME_PANELS}: {panel!r} is already on the home page.")
    panels.insert(0, panel) if first else panels.append(panel)


def home_panels_of(app) -> list[HomePanel]:
    return list(app.extensions.get(HOME_PANELS, []))


def register_profile_section(app, template: str) -> None:
    _name(PROFILE_SECTIONS, "the section's template", template)
    if not template.endswith(".html"):
        raise RegistrationError(f"{PROFILE_SECTIONS}: {template!r} is not a template (….html).")
    sections = _entries(app, PROFILE_SECTIONS)
    if template in sections:
        raise RegistrationError(f"{PROFILE_SECTIONS}: {template!r} is already on the profile page.")
    sections.append(template)


def profile_sections_of(app) -> list[str]:
    return list(app.extensions.get(PROFILE_SECTIONS, []))


def register_stream_poll_source(app, source: Callable[[Any], tuple[list[dict], Any]]) -> None:
    """Another stream kind feeds the SQLite stream service (PostgreSQL and Redis need none: ``realtime.publish``
    reaches every process): ``source(last)`` runs inside an app context about once a second while any stream is open;
    ``last`` is None the first time (answer with no events, only where to start), then what it returned before. It
    returns ``(events, last)``, each event routed by its ``user_id`` key (e.g. ``"channel:12"``)."""
    _callable(STREAM_POLL_SOURCES, "a poll source", source)
    sources = _entries(app, STREAM_POLL_SOURCES)
    if source in sources:
        raise RegistrationError(f"{STREAM_POLL_SOURCES}: {source!r} is already registered.")
    sources.append(source)


def stream_poll_sources_of(app) -> list[Callable[[Any], tuple[list[dict], Any]]]:
    return list(app.extensions.get(STREAM_POLL_SOURCES, []))


def register_demo_seeder(app, order: int, label: str, seed: Callable[[], list[str] | None]) -> DemoSeeder:
    if not isinstance(order, int) or isinstance(order, bool):
        raise RegistrationError(f"{DEMO_SEEDERS}: the order of {label!r} must be an integer, not {order!r}.")
    _name(DEMO_SEEDERS, "the seeder's label", label)
    _callable(DEMO_SEEDERS, f"seeder {label!r}", seed)
    seeders = _entries(app, DEMO_SEEDERS)
    clash = next((s for s in seeders if s[1] == label), None)
    if clash is not None:
        raise RegistrationError(f"{DEMO_SEEDERS}: a seeder labelled {label!r} is already registered "
                                f"({clash[2]!r}); refusing {seed!r}.")
    seeder = DemoSeeder(order, label, seed)
    seeders.append(seeder)
    return seeder


def demo_seeders_of(app) -> list[DemoSeeder]:
    """In the order they run: by ``order``, then label."""
    return sorted((DemoSeeder(*s) for s in app.extensions.get(DEMO_SEEDERS, [])), key=lambda s: (s.order, s.label))


# ------------------------------------------------------------------------------------------------ per process


class _Table:
    """A process-wide name -> entry table: the same entry again is a no-op (an app built twice), a different one
    under a taken name is refused unless ``replace`` (a test standing in for the real one)."""

    def __init__(self, point: str):
        self.point = point
        self.entries: dict[str, Any] = {}

    def add(self, key: str, entry, *, replace: bool) -> None:
        old = self.entries.get(key)
        if old is not None and old != entry and not replace:
            raise RegistrationError(f"{self.point}: {key!r} is already registered ({old!r}); refusing {entry!r}.")
        self.entries[key] = entry

    def snapshot(self) -> dict[str, Any]:
        return dict(self.entries)

    def restore(self, saved: dict[str, Any]) -> None:
        self.entries.clear()
        self.entries.update(saved)


_TABLES = {point: _Table(point) for point in (AUDIENCES, REPLY_HANDLERS, REFERENCE_ACTIONS)}


def register_audience(name: str, label: str, resolver: Resolver, *, replace: bool = False) -> Audience:
    _name(AUDIENCES, "the audience's name", name)
    if not name.isidentifier():
        raise RegistrationError(f"{AUDIENCES}: {name!r} is not an identifier (it travels in URLs and the API).")
    _name(AUDIENCES, f"the label of {name!r}", label)
    _callable(AUDIENCES, f"the resolver of {name!r}", resolver)
    audience = Audience(name, label, resolver)
    _TABLES[AUDIENCES].add(name, audience, replace=replace)
    return audience


def audiences() -> dict[str, Audience]:
    return _TABLES[AUDIENCES].snapshot()


def register_reply_handler(keyword: str, handler: ReplyHandler, *, replace: bool = False) -> None:
    keyword = _name(REPLY_HANDLERS, "the keyword", keyword).strip().upper()
    if keyword in RESERVED_KEYWORDS:
        raise RegistrationError(f"{keyword} is reserved for consent and acknowledgement")
    if not keyword.isalnum():
        raise RegistrationError(f"{REPLY_HANDLERS}: {keyword!r} must be one word of letters or digits.")
    _callable(REPLY_HANDLERS, f"the handler of {keyword!r}", handler)
    _TABLES[REPLY_HANDLERS].add(keyword, handler, replace=replace)


def reply_handler(keyword: str) -> ReplyHandler | None:
    return _TABLES[REPLY_HANDLERS].entries.get(keyword.strip().upper())


def register_reference_action(kind: str, action: ReferenceAction, *, replace: bool = False) -> None:
    _name(REFERENCE_ACTIONS, "the reference kind", kind)
    if not kind.isidentifier():
        raise RegistrationError(f"{REFERENCE_ACTIONS}: {kind!r} is not an identifier (references are kind:id).")
    _callable(REFERENCE_ACTIONS, f"the action for {kind!r}", action)
    _TABLES[REFERENCE_ACTIONS].add(kind, action, replace=replace)


def reference_action_for(kind: str) -> ReferenceAction | None:
    return _TABLES[REFERENCE_ACTIONS].entries.get(kind)


def snapshot() -> dict[str, dict[str, Any]]:
    """The process-wide tables, for a test that registers stand-ins and puts the real ones back with
    :func:`restore`."""
    return {point: table.snapshot() for point, table in _TABLES.items()}


def restore(saved: dict[str, dict[str, Any]]) -> None:
    for point, entries in saved.items():
        _TABLES[point].restore(entries)
