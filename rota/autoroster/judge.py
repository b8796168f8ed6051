"""The rules engine's verdict on an auto-roster draft (pure: no Flask, no database): the engine, not the model,
has the last word."""

from __future__ import annotations

from collections import defaultdict

from rota.autoroster.problem import Draft, ShiftKind
from rota.compliance import rules


def judge(draft: Draft, types: dict[int, ShiftKind], tz: str, rule_sets_of, *, existing=None, leave=None) -> dict:
    """Every person's draft through the rules engine: ``{user_id: [blocking verdicts involving a drafted shift]}``.

    ``rule_sets_of(user_id)`` gives the person's rule sets; ``existing`` their other shifts (WorkShift lists) and
    ``leave`` their LeaveSpans, so windows reaching outside the period are judged too."""
    by_person = defaultdict(list)
    for i, a in enumerate(draft.assignments):
        t = types[a.type_id]
        by_person[a.user_id].append(rules.WorkShift(a.starts_at, a.ends_at, kind=t.kind, tz=tz, name=t.name,
                                                    key=("draft", i)))
    out = {}
    for uid, shifts in by_person.items():
        rule_sets, opted_out = rule_sets_of(uid)
        others = list((existing or {}).get(uid, []))
        verdicts = rules.evaluate(shifts + others, rule_sets, leave=(leave or {}).get(uid, ()), opted_out=opted_out,
                                  focus=[s.key for s in shifts])
        blocking = [v for v in verdicts if v.severity == rules.BLOCK]
        if blocking:
            out[uid] = blocking
    return out
