"""Who counts as what: the one set of rules for staff groups, grades and skills, shared by the grid's cover line
(``meets``), the cover checks and like-for-like lists (``rota.cover.Need``) and eligibility, so that no two of them
can disagree about a person (a skill is the same skill whatever its letter case)."""

from __future__ import annotations

from core.accounts import User, grade_meets, missing_skills  # the one grade and skill comparison

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


def meets(user: User, req) -> bool:
    """Does ``user`` count towards requirement clause ``req`` (staff group, minimum grade, skill)?"""
    if req.staff_group and user.staff_group.value != req.staff_group:
        return False
    if req.min_grade and not grade_meets(user.grade, req.min_grade):
        return False
    return not (req.skill and missing_skills(user.skills, [req.skill]))
