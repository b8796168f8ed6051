"""The extension points (``core.registry``): a registration is seen where the point is read, and a duplicate or a
malformed one is refused at start-up with an error that names the point and what clashed."""

from __future__ import annotations

import ast

import pytest
from flask import Flask

from core import registry
from core.registry import RegistrationError
from handover.acceptance import FLAG_OVERDUE_TASK
from rota.swaps.requests import EXPIRE_TASK
from tests.core.test_private_names import ROOT, production_files


@pytest.fixture
def bare():
    return Flask("registry-test")


@pytest.fixture
def process_tables():
    saved = registry.snapshot()
    yield
    registry.restore(saved)


def task():
    return 0


def other_task():
    return 1


def test_periodic_task_is_seen_and_a_second_one_of_the_same_name_is_refused(bare):
    registry.register_periodic_task(bare, "ward.tidy", task)
    assert registry.periodic_tasks_of(bare) == [("ward.tidy", task)]
    name, run = registry.periodic_tasks_of(bare)[0]  # still reads as the (name, run) pair it always was
    assert (name, run) == ("ward.tidy", task)
    assert bare.extensions["periodic_tasks"] == [("ward.tidy", task)]
    with pytest.raises(RegistrationError, match="periodic_tasks: a task named 'ward.tidy' is already registered"):
        registry.register_periodic_task(bare, "ward.tidy", other_task)
    with pytest.raises(RegistrationError, match="must be callable"):
        registry.register_periodic_task(bare, "ward.other", "not a function")
    with pytest.raises(RegistrationError, match="non-empty string"):
        registry.register_periodic_task(bare, " ", task)
    assert registry.periodic_tasks_of(bare) == [("ward.tidy", task)]


def test_home_panels_keep_their_order_first_leads_and_a_panel_twice_is_refused(bare):
    def mine(user):
        return {"title": "mine"}

    def urgent(user):
        return {"title": "urgent"}

    registry.register_home_panel(bare, mine)
    registry.register_home_panel(bare, urgent, first=True)
    assert registry.home_panels_of(bare) == [urgent, mine]
    with pytest.raises(RegistrationError, match="home_panels: .*mine.* is already on the home page"):
        registry.register_home_panel(bare, mine)
    with pytest.raises(RegistrationError, match="must be callable"):
        registry.register_home_panel(bare, None)


def test_profile_section_is_seen_and_a_duplicate_or_a_non_template_is_refused(bare):
    registry.register_profile_section(bare, "rota/feeds/profile.html")
    assert registry.profile_sections_of(bare) == ["rota/feeds/profile.html"]
    with pytest.raises(RegistrationError, match="profile_sections: 'rota/feeds/profile.html' is already"):
        registry.register_profile_section(bare, "rota/feeds/profile.html")
    with pytest.raises(RegistrationError, match="is not a template"):
        registry.register_profile_section(bare, "rota/feeds/profile")


def test_demo_seeders_run_by_order_and_a_second_one_with_the_same_label_is_refused(bare):
    registry.register_demo_seeder(bare, 20, "rota", task)
    registry.register_demo_seeder(bare, 10, "people and teams", other_task)
    assert [(s.order, s.label) for s in registry.demo_seeders_of(bare)] == [(10, "people and teams"), (20, "rota")]
    with pytest.raises(RegistrationError, match="demo_seeders: a seeder labelled 'rota' is already registered"):
        registry.register_demo_seeder(bare, 30, "rota", other_task)
    with pytest.raises(RegistrationError, match="must be an integer"):
        registry.register_demo_seeder(bare, "30", "later", task)


def test_stream_poll_source_is_seen_and_a_duplicate_or_a_non_callable_is_refused(bare):
    registry.register_stream_poll_source(bare, task)
    assert registry.stream_poll_sources_of(bare) == [task]
    with pytest.raises(RegistrationError, match="realtime_poll_sources: .* is already registered"):
        registry.register_stream_poll_source(bare, task)
    with pytest.raises(RegistrationError, match="must be callable"):
        registry.register_stream_poll_source(bare, "channels")


def test_audience_is_seen_again_is_harmless_and_another_under_its_name_is_refused(process_tables):
    def everyone(team_id, params):
        return [1, 2]

    registry.register_audience("test_everyone", "Everyone (test)", everyone)
    registry.register_audience("test_everyone", "Everyone (test)", everyone)  # the next app built registers it again
    assert registry.audiences()["test_everyone"].resolver is everyone
    with pytest.raises(RegistrationError, match="audiences: 'test_everyone' is already registered"):
        registry.register_audience("test_everyone", "Someone else", lambda team_id, params: [])
    with pytest.raises(RegistrationError, match="is not an identifier"):
        registry.register_audience("two words", "Bad", everyone)
    assert registry.audiences()["test_everyone"].label == "Everyone (test)"


def test_reply_handler_is_seen_by_keyword_and_a_reserved_or_clashing_keyword_is_refused(process_tables):
    def maybe(user_id, reference):
        return True, "ok"

    registry.register_reply_handler("maybe", maybe)
    assert registry.reply_handler(" MAYBE ") is maybe
    with pytest.raises(RegistrationError, match="STOP is reserved for consent and acknowledgement"):
        registry.register_reply_handler("stop", maybe)
    with pytest.raises(RegistrationError, match="reply_handlers: 'MAYBE' is already registered"):
        registry.register_reply_handler("MAYBE", lambda user_id, reference: (False, "no"))
    with pytest.raises(RegistrationError, match="one word"):
        registry.register_reply_handler("YES PLEASE", maybe)


def test_reference_action_is_seen_by_kind_and_a_clashing_or_malformed_kind_is_refused(process_tables):
    def open_it(ident):
        return ("Open", f"/things/{ident}")

    registry.register_reference_action("thing", open_it)
    assert registry.reference_action_for("thing") is open_it
    with pytest.raises(RegistrationError, match="reference_actions: 'thing' is already registered"):
        registry.register_reference_action("thing", lambda ident: None)
    with pytest.raises(RegistrationError, match="is not an identifier"):
        registry.register_reference_action("thing:1", open_it)


def test_the_app_registers_each_package_through_the_registry(app):
    """What the packages register at start-up is what the worker, the home page, the profile page, `flask demo
    seed` and notifications read."""
    tasks = [t.name for t in registry.periodic_tasks_of(app)]
    assert {EXPIRE_TASK, FLAG_OVERDUE_TASK} <= set(tasks) and len(tasks) == len(set(tasks))
    assert len(registry.home_panels_of(app)) == 4
    assert "rota/feeds/profile.html" in registry.profile_sections_of(app)
    # 90: the insights history comes after everything it summarises
    assert [s.order for s in registry.demo_seeders_of(app)] == [10, 20, 30, 35, 37, 38, 39, 40, 50, 90]
    assert {"eligible_for_shift", "staff_bank", "channel"} <= set(registry.audiences())
    assert len(registry.stream_poll_sources_of(app)) == 1  # channels: new posts reach the SQLite stream service
    assert registry.reply_handler("YES") is not None and registry.reference_action_for("shift") is not None


# The argument that names the entry, by position (after ``app`` for the per-app points), for each call that names one.
NAMING_ARGUMENT = {"register_periodic_task": 1, "register_audience": 0, "register_reply_handler": 0,
                   "register_reference_action": 0, "reply_handler": 0, "reference_action_for": 0}


def bare_registry_names(path) -> list[str]:
    """Places in one file that name a registry entry with a string literal instead of its constant: a registration,
    a look-up, a broadcast's ``audience=`` or a ladder step's ``"audience"``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Dict):  # a ladder step {"audience": ...}
            if any(isinstance(k, ast.Constant) and k.value == "audience" and isinstance(v, ast.Constant)
                   for k, v in zip(node.keys, node.values, strict=True)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)[:100]}")
            continue
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        position = NAMING_ARGUMENT.get(name)
        named = [node.args[position]] if position is not None and len(node.args) > position else []
        named += [k.value for k in node.keywords if k.arg == "audience"]
        if any(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in named):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)[:100]}")
    return found


def test_production_code_names_registry_entries_by_constants():
    """One name, one constant: a task, audience, reply keyword or reference kind spelled as a bare string in two
    places drifts apart unnoticed (the registration would still succeed; the look-up would find nothing)."""
    found = [hit for path in production_files() for hit in bare_registry_names(path)]
    assert not found, "registry names spelled as string literals (use the constant):\n" + "\n".join(found)


def test_the_bare_name_check_finds_each_spelling(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text('registry.register_periodic_task(app, "x.y", run)\nregister_reply_handler("YES", h)\n'
                      'registry.reply_handler(KEYWORD)\nbroadcasts.create(team, me, audience="channel")\n'
                      'broadcasts.create(team, me, audience=CHANNEL_AUDIENCE)\n'
                      'steps = [{"after_minutes": 30, "audience": "team"}, {"audience": broadcasts.TEAM}]\n')
    assert [hit.split(" ")[0] for hit in bare_registry_names(sample)] == ["sample.py:1", "sample.py:2", "sample.py:4",
                                                                           "sample.py:6"]
