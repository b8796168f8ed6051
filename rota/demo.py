"""Demo data: a realistic trust with two teams. Fictional people; phone numbers in Ofcom's drama range."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import time, timedelta

from sqlalchemy import select

from core import accounts, timeutil
from core.accounts import AFC_BANDS, MEDICAL_GRADES, Team, TeamRole, grade_rank
from core.db import db
from rota import services
from rota.models import LeaveKind, RotaPeriod

DEMO_PASSWORD = "shiftbridge-demo"
SITE = "St Elsewhere General Hospital"
WARD = "Ward 7B Acute Medicine"
ED = "Emergency Department — doctors"
NEIGHBOUR_WARD = "Ward 8 Respiratory"  # same site as Ward 7B: the ladder's "neighbouring wards" step
STAFF_BANK = "Staff bank — St Elsewhere"  # Ward 7B's pool team: the ladder's "staff bank" step

_FIRST = ["Priya", "Sam", "Aisha", "Tom", "Grace", "Oliver", "Fatima", "James", "Chloe", "Daniel", "Amara", "Liam",
          "Hannah", "Kwame", "Sophie", "Ravi", "Emily", "Joseph", "Zara", "Harry", "Mei", "Ethan", "Niamh", "Adam",
          "Isla", "Yusuf", "Ruby", "Callum", "Leah", "Owen", "Ava", "Noah", "Ella", "Arjun", "Freya", "Lewis",
          "Maya", "Ben", "Sara", "Kofi", "Lily", "Rhys", "Anya", "Jack", "Nadia", "Finn", "Imogen", "Tariq", "Erin",
          "Luca"]
_LAST = ["Patel", "Okafor", "Smith", "Khan", "Jones", "Williams", "Brown", "Taylor", "Davies", "Evans", "Wilson",
         "Thomas", "Roberts", "Johnson", "Ahmed", "Lewis", "Walker", "Wright", "Robinson", "Thompson", "Mensah",
         "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Martin", "Jackson", "Clarke", "Chen", "Ali",
         "Murphy", "Kelly", "Begum", "Singh", "Nowak", "Morris", "Cooper", "Ward", "Bailey", "King", "Hill",
         "Scott", "Young", "Baker", "Adams", "Mitchell", "Turner", "Campbell"]

# (grade, staff group, skills, count) — a realistic mix for a 28-bed acute medical ward.
_WARD_MIX = [
    ("Band 7", "nursing", ["IV-trained", "ALS", "Mentor"], 1),
    ("Band 6", "nursing", ["IV-trained", "ALS"], 4),
    ("Band 5", "nursing", ["IV-trained"], 12),
    ("Band 5", "nursing", [], 4),
    ("Band 4", "support", ["Phlebotomy"], 2),
    ("Band 3", "support", [], 4),
    ("Band 2", "support", [], 3),
]
_ED_MIX = [
    ("Consultant", "medical", ["ALS", "ATLS", "APLS"], 3),
    ("ST6", "medical", ["ALS", "ATLS"], 2),
    ("ST4", "medical", ["ALS"], 2),
    ("ST3", "medical", ["ALS"], 2),
    ("CT2", "medical", ["ALS"], 3),
    ("CT1", "medical", ["ALS"], 2),
    ("FY2", "medical", ["ILS"], 4),
    ("FY1", "medical", ["ILS"], 2),
]
_NEIGHBOUR_MIX = [
    ("Band 6", "nursing", ["IV-trained", "ALS"], 1),
    ("Band 5", "nursing", ["IV-trained"], 4),
    ("Band 5", "nursing", [], 1),
    ("Band 3", "support", [], 2),
]
_BANK_MIX = [
    ("Band 6", "nursing", ["IV-trained", "ALS"], 1),
    ("Band 5", "nursing", ["IV-trained"], 3),
    ("Band 3", "support", [], 2),
]


def _person(n: int):
    return _FIRST[n % len(_FIRST)], _LAST[(n * 7) % len(_LAST)]


def _ensure_user(email: str, name: str, *, grade=None, staff_group="nursing", skills=(), admin=False, n=0):
    user = accounts.user_by_email(email)
    if user is None:
        user = accounts.create_user(email=email, display_name=name, password=DEMO_PASSWORD, grade=grade,
                                    staff_group=staff_group, skills=list(skills), is_admin=admin,
                                    mobile=f"07700 900{n:03d}", staff_number=f"SB{n:05d}")
    return user


def _ensure_team(name: str, site: str) -> Team:
    team = db.session.scalar(select(Team).where(Team.name == name))
    return team or accounts.create_team(name=name, site=site)


def _staff(team: Team, mix, domain: str, start: int, coordinator_email: str, coordinator_name: str,
           coordinator_grade: str, coordinator_group: str, *, admin) -> None:
    # The seed acts as the trust's administrator: administrators may add people to teams directly.
    coord = _ensure_user(coordinator_email, coordinator_name, grade=coordinator_grade,
                         staff_group=coordinator_group, skills=["ALS"], n=start)
    accounts.add_member(team, coord, TeamRole.coordinator, actor=admin)
    n = start + 1
    for grade, group, skills, count in mix:
        for _ in range(count):
            first, last = _person(n)
            user = _ensure_user(f"{first}.{last}.{n}@{domain}".lower(), f"{first} {last}", grade=grade,
                                staff_group=group, skills=skills, n=n)
            accounts.add_member(team, user, TeamRole.staff, actor=admin)
            n += 1


def seed_people_and_teams() -> list[str]:
    admin = _ensure_user("admin@shiftbridge.test", "Alex Admin", staff_group="admin", admin=True, n=0)
    ward = _ensure_team(WARD, SITE)
    ed = _ensure_team(ED, SITE)
    _staff(ward, _WARD_MIX, "ward7b.test", 100, "ward.manager@shiftbridge.test", "Wendy Ward-Manager",
           "Band 7", "nursing", admin=admin)
    _staff(ed, _ED_MIX, "ed.test", 200, "ed.rota@shiftbridge.test", "Dr Ravi Rota", "Consultant", "medical",
           admin=admin)
    # A small neighbouring ward on the same site and the trust's staff bank (Ward 7B's escalation ladder).
    _staff(_ensure_team(NEIGHBOUR_WARD, SITE), _NEIGHBOUR_MIX, "ward8.test", 300, "ward8.manager@shiftbridge.test",
           "Rosa Respiratory", "Band 7", "nursing", admin=admin)
    _staff(_ensure_team(STAFF_BANK, "Trust-wide"), _BANK_MIX, "bank.test", 400, "bank.office@shiftbridge.test",
           "Bola Bank-Office", None, "admin", admin=admin)
    db.session.flush()
    return [
        "Demo sign-ins (password for all: " + DEMO_PASSWORD + "):",
        f"  administrator        {admin.email}",
        "  Ward 7B coordinator  ward.manager@shiftbridge.test",
        "  ED rota coordinator  ed.rota@shiftbridge.test",
        "  Ward 8 coordinator   ward8.manager@shiftbridge.test (neighbouring ward)",
        f"  Ward 7B staff nurse  {demo_nurse_email()}",
        "Open http://127.0.0.1:5000 and sign in.",
    ]


def demo_nurse_email() -> str:
    """The first Band 5 nurse on the demo ward (stable across runs: seeding is deterministic)."""
    ward = db.session.scalar(select(Team).where(Team.name == WARD))
    nurses = sorted((m.user for m in ward.memberships if m.user.grade == "Band 5"), key=lambda u: u.id)
    return nurses[0].email


# ------------------------------------------------------------------------------------------------- the rota

# (code, name, start, minutes, kind, colour)
_WARD_TYPES = [("E", "Early", (7, 0), 510, "day", "#005eb8"), ("L", "Late", (13, 0), 510, "day", "#007f3b"),
               ("LD", "Long day", (7, 0), 780, "day", "#330072"), ("N", "Night", (19, 30), 750, "night", "#212b32")]
_ED_TYPES = [("D", "Day", (8, 0), 600, "day", "#005eb8"), ("T", "Twilight", (14, 0), 600, "day", "#007f3b"),
             ("N", "Night", (22, 0), 600, "night", "#212b32"), ("OC", "Consultant on call", (17, 0), 900, "on_call",
                                                                   "#ae2573")]
# (code, staff group, minimum grade, skill, count) — requirement clauses, every day.
_WARD_REQS = [("E", "nursing", None, None, 4), ("E", "nursing", "Band 6", None, 1), ("E", "support", None, None, 2),
              ("L", "nursing", None, None, 4), ("L", "nursing", "Band 6", None, 1), ("L", "support", None, None, 2),
              ("N", "nursing", None, None, 3), ("N", "nursing", None, "IV-trained", 2),
              ("N", "support", None, None, 2)]
_ED_REQS = [("D", "medical", None, None, 3), ("D", "medical", "ST3", None, 1), ("T", "medical", None, None, 3),
            ("T", "medical", "ST3", None, 1), ("N", "medical", None, None, 2), ("N", "medical", "ST3", None, 1),
            ("OC", "medical", "Consultant", None, 1)]
DEMO_WEEKS = 6


def _demo_types(team, spec, coord):


    have = {st.code: st for st in services.shift_types(team)}
    for code, name, (h, m), minutes, kind, colour in spec:
        if code not in have:
            have[code] = services.create_shift_type(team, code=code, name=name, start_local=time(h, m),
                                                    duration_minutes=minutes, kind=kind, colour=colour, actor=coord)
    return have


def _demo_reqs(team, spec, types, coord):

    if services.requirements(team):
        return
    for code, group, grade, skill, count in spec:
        services.create_requirement(team, shift_type=types[code], min_count=count, staff_group=group,
                                    min_grade=grade, skill=skill, actor=coord)


def _roster(team, days, slots, people, leave_days, rng, *, max_week=4, gap_rate=0.03):
    """A plausible ward rota by a greedy, fairness-first fill: nights in runs of up to three followed by two days
    off, no early after a late, at most ``max_week`` shifts in any 7 days and five in a row. Some places are left
    empty so the demo shows gaps."""

    worked: dict = defaultdict(dict)  # user id -> {day: code}
    total: dict = defaultdict(int)
    items = []
    for day in days:
        today: set = set()
        for st, fits, count in slots:
            for _ in range(count):
                if rng.random() < gap_rate:
                    continue
                best = None
                for u in people:
                    if u.id in today or not fits(u) or day in leave_days.get(u.id, ()):
                        continue
                    hist = worked[u.id]
                    y1, y2 = hist.get(day - timedelta(1)), hist.get(day - timedelta(2))
                    if y1 == "N" and (st.code != "N" or all(hist.get(day - timedelta(k)) == "N" for k in (1, 2, 3))):
                        continue
                    if st.code == "N" and y1 not in (None, "N") or (y1 is None and y2 == "N"):
                        continue
                    if st.start_local.hour < 12 and y1 in ("L", "T"):
                        continue
                    if sum(1 for k in range(1, 7) if day - timedelta(k) in hist) >= max_week:
                        continue
                    if all(day - timedelta(k) in hist for k in range(1, 6)):
                        continue
                    key = (y1 != st.code if st.code == "N" else False, total[u.id], rng.random())
                    if best is None or key < best[0]:
                        best = (key, u)
                if best is None:
                    continue
                u = best[1]
                today.add(u.id)
                worked[u.id][day] = st.code
                total[u.id] += 1
                items.append((day, st, u, None, (), None))
    return items


def _seed_team_rota(team, coord, types_spec, reqs_spec, first, rng, *, nursing: bool, weeks: int) -> int:


    types = _demo_types(team, types_spec, coord)
    _demo_reqs(team, reqs_spec, types, coord)
    last = first + timedelta(days=7 * weeks - 1)
    period = services.create_period(team, first_day=first, last_day=last, actor=coord)
    people = sorted((m.user for m in team.memberships if m.user_id != coord.id), key=lambda u: u.id)
    days = [first + timedelta(days=i) for i in range(7 * weeks)]
    # Annual leave booked in advance: a week each for a few people, spread over the period.
    leave_days: dict = {}
    for i, u in enumerate(people[2::7]):
        start = first + timedelta(days=7 * (1 + i % max(1, weeks - 1)))
        services.record_leave(u, kind=LeaveKind.annual, first_day=start, last_day=start + timedelta(6), team=team,
                              actor=coord)
        leave_days[u.id] = {start + timedelta(k) for k in range(7)}
    if nursing:
        def senior(u):
            return u.staff_group.value == "nursing" and grade_rank(u.grade) >= AFC_BANDS.index("Band 6")
        def rn(u):
            return u.staff_group.value == "nursing"
        def iv_rn(u):
            return rn(u) and "IV-trained" in (u.skills or [])
        def hca(u):
            return u.staff_group.value == "support"
        slots = [(types["N"], iv_rn, 2), (types["N"], rn, 1), (types["N"], hca, 2),
                 (types["E"], senior, 1), (types["E"], rn, 3), (types["E"], hca, 2),
                 (types["L"], senior, 1), (types["L"], rn, 3), (types["L"], hca, 2)]
        items = _roster(team, days, slots, people, leave_days, rng, max_week=4)
    else:

        def registrar(u):
            return u.grade in MEDICAL_GRADES[MEDICAL_GRADES.index("ST3"):MEDICAL_GRADES.index("Consultant")]
        def junior(u):
            return u.grade in MEDICAL_GRADES[:MEDICAL_GRADES.index("ST3")]
        def consultant(u):
            return u.grade == "Consultant"
        slots = [(types["N"], registrar, 1), (types["N"], junior, 1), (types["D"], registrar, 1),
                 (types["D"], junior, 2), (types["T"], registrar, 1), (types["T"], junior, 2),
                 (types["OC"], consultant, 1)]
        items = _roster(team, days, slots, people, leave_days, rng, max_week=5)
    report = services.BuildReport()
    services.bulk_create(team, items, actor=coord, report=report)
    # Sickness reported after the rota was built: the person's shifts become open shifts (coordinators are told).
    sick = next((u for u in people[5:] if any(s.assignee_id == u.id and first + timedelta(8) <= services.local_day(s)
                                               <= first + timedelta(9) for s in report.created)), None)
    if sick is not None:
        services.record_leave(sick, kind=LeaveKind.sickness, first_day=first + timedelta(8),
                              last_day=first + timedelta(9), team=team, actor=coord)
    # A few gaps still to come advertised as open shifts; the rest stay visible as red coverage.
    now = services.now_utc()
    gaps = [g for g in services.gaps_for(team, first + timedelta(2), first + timedelta(13))
            if services.gap_start(team, g.shift_type, g.day) > now]
    for gap in gaps[:3]:
        if gap.missing > 0:
            services.open_gap(team, requirement=gap.requirement, day=gap.day, actor=coord)
    services.publish_period(period, actor=coord)
    return len(report.created)


def seed_rota(weeks: int = DEMO_WEEKS) -> list[str]:
    """Six weeks of published rota for both demo teams (from the Monday of the current week). Idempotent: a team
    that already has a rota period is left alone."""


    lines = []
    rng = random.Random(7)
    for name, coord_email, types_spec, reqs_spec, nursing in (
            (WARD, "ward.manager@shiftbridge.test", _WARD_TYPES, _WARD_REQS, True),
            (ED, "ed.rota@shiftbridge.test", _ED_TYPES, _ED_REQS, False)):
        team = db.session.scalar(select(Team).where(Team.name == name))
        coord = accounts.user_by_email(coord_email)
        if team is None or coord is None:
            continue
        if db.session.scalar(select(RotaPeriod.id).where(RotaPeriod.team_id == team.id).limit(1)):
            continue
        today = timeutil.local_date(services.now_utc(), team.timezone)
        first = today - timedelta(days=today.weekday())
        n = _seed_team_rota(team, coord, types_spec, reqs_spec, first, rng, nursing=nursing, weeks=weeks)
        lines.append(f"  {name}: {n} shifts over {weeks} weeks from {first:%d %b %Y} (published)")
    db.session.flush()
    return (["Demo rota:"] + lines) if lines else []

