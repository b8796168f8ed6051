"""Demo data: a realistic trust with two teams. Fictional people; phone numbers in Ofcom's drama range."""

from __future__ import annotations

from sqlalchemy import select

from core import accounts
from core.accounts import Team, TeamRole
from core.db import db

DEMO_PASSWORD = "shiftbridge-demo"
WARD = "Ward 7B Acute Medicine"
ED = "Emergency Department — doctors"

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
           coordinator_grade: str, coordinator_group: str) -> None:
    coord = _ensure_user(coordinator_email, coordinator_name, grade=coordinator_grade,
                         staff_group=coordinator_group, skills=["ALS"], n=start)
    accounts.add_member(team, coord, TeamRole.coordinator)
    n = start + 1
    for grade, group, skills, count in mix:
        for _ in range(count):
            first, last = _person(n)
            user = _ensure_user(f"{first}.{last}.{n}@{domain}".lower(), f"{first} {last}", grade=grade,
                                staff_group=group, skills=skills, n=n)
            accounts.add_member(team, user, TeamRole.staff)
            n += 1


def seed_people_and_teams() -> list[str]:
    admin = _ensure_user("admin@shiftbridge.test", "Alex Admin", staff_group="admin", admin=True, n=0)
    ward = _ensure_team(WARD, "St Elsewhere General Hospital")
    ed = _ensure_team(ED, "St Elsewhere General Hospital")
    _staff(ward, _WARD_MIX, "ward7b.test", 100, "ward.manager@shiftbridge.test", "Wendy Ward-Manager",
           "Band 7", "nursing")
    _staff(ed, _ED_MIX, "ed.test", 200, "ed.rota@shiftbridge.test", "Dr Ravi Rota", "Consultant", "medical")
    db.session.flush()
    return [
        "Demo sign-ins (password for all: " + DEMO_PASSWORD + "):",
        f"  administrator        {admin.email}",
        "  Ward 7B coordinator  ward.manager@shiftbridge.test",
        "  ED rota coordinator  ed.rota@shiftbridge.test",
        f"  Ward 7B staff nurse  {demo_nurse_email()}",
        "Open http://127.0.0.1:5000 and sign in.",
    ]


def demo_nurse_email() -> str:
    """The first Band 5 nurse on the demo ward (stable across runs: seeding is deterministic)."""
    ward = db.session.scalar(select(Team).where(Team.name == WARD))
    nurses = sorted((m.user for m in ward.memberships if m.user.grade == "Band 5"), key=lambda u: u.id)
    return nurses[0].email
