"""Who counts as what: the one set of rules for staff groups, grades and skills, shared by the grid's cover line
(``meets``), the cover checks and like-for-like lists (``rota.cover.Need``) and eligibility, so that no two of them
can disagree about a person (a skill is the same skill whatever its letter case)."""

from __future__ import annotations

from collections.abc import Iterable

from core.accounts import AFC_BANDS, MEDICAL_GRADES, User, grade_rank

# The lowest grade that is still like-for-like cover for a staff group (when no requirement asks for more).
GROUP_FLOOR = {"nursing": "Band 5", "support": "Band 2", "medical": "FY1", "ahp": "Band 5"}
# How a staff group is named: one person, several people.
GROUP_WORDS = {"nursing": ("registered nurse", "registered nurses"),
               "support": ("healthcare assistant", "healthcare assistants"),
               "medical": ("doctor", "doctors"),
               "ahp": ("allied health professional", "allied health professionals"),
               "admin": ("administrative staff", "administrative staff")}


def group_words(group: str | None, *, plural: bool = True) -> str:
    """"registered nurses" / "registered nurse"; "staff" for no group."""
    words = GROUP_WORDS.get(group or "")
    if words is None:
        return "staff" if plural or not group else group
    return words[1] if plural else words[0]


def grade_meets(user_grade: str | None, required: str | None) -> bool:
    """``user_grade`` is ``required`` or above on the same ladder (Agenda for Change bands, medical grades)."""
    if not required:
        return True
    for ladder in (AFC_BANDS, MEDICAL_GRADES):
        if required in ladder:
            return user_grade in ladder and ladder.index(user_grade) >= ladder.index(required)
    return grade_rank(user_grade) >= grade_rank(required)


def missing_skills(user_skills: Iterable[str] | None, required: Iterable[str] | None) -> list[str]:
    """The ``required`` skills the person is not recorded as having (compared without regard to letter case)."""
    have = {s.casefold() for s in (user_skills or [])}
    return [s for s in (required or []) if s.casefold() not in have]


def meets(user: User, req) -> bool:
    """Does ``user`` count towards requirement clause ``req`` (staff group, minimum grade, skill)?"""
    if req.staff_group and user.staff_group.value != req.staff_group:
        return False
    if req.min_grade and not grade_meets(user.grade, req.min_grade):
        return False
    return not (req.skill and missing_skills(user.skills, [req.skill]))
