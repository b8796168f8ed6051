"""The patient-data guard: a post (or caption) with an NHS number, a hospital number or a date of birth next to a
name is refused with a pointer to the handover. Pure functions; the service counts refusals (never the text)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core import nhs

HANDOVER_POINTER = ("This looks like patient information. Patient details belong in the handover, not the "
                    "channel: move this to the handover.")
_TEN_DIGITS = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")
_DATE = (r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
         r"|\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]* \d{4})")
_DOB_WORDS = re.compile(r"\b(?:dob|d\.o\.b\.?|date of birth|born)\b[:\s]*" + _DATE, re.IGNORECASE)
# "Mr Smith 12/03/1948", "Jane Smith, 12/03/1948": a capitalised name (or a title and a name) right before a date
_NAME_THEN_DATE = re.compile(r"\b(?P<name>(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.? [A-Z][a-z'-]+|[A-Z][a-z'-]+ [A-Z][a-z'-]+)"
                             r"[,\s(]{1,3}(?:dob[:\s]*)?(?P<date>" + _DATE + ")")
# Words that start rota talk, not names: "Night Sat 12/12/2026", "Staff Meeting 3/1/2027".
_NOT_NAMES = {w.lower() for w in (
    "Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday Night Nights Early Late "
    "Long Day Days Shift Staff Team Ward Meeting Training Bank Holiday Rota Week From Until Since On Off").split()}
_DATE_THEN_NAME = re.compile(r"(?<![\d/.-])" + _DATE.replace(r"\d{2})", r"\d{2})(?![\d/.-])", 1)
                             + r"[,\s]{1,3}(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.? [A-Z][a-z'-]+")


@dataclass(frozen=True)
class Finding:
    reason: str  # nhs_number | hospital_number | date_of_birth (a code: counted, never the text)


def check(text: str, hospital_number_pattern: str | None = None) -> Finding | None:
    for m in _TEN_DIGITS.finditer(text or ""):
        if nhs.is_valid("".join(m.groups())):
            return Finding("nhs_number")
    if hospital_number_pattern:
        try:
            if re.search(hospital_number_pattern, text or ""):
                return Finding("hospital_number")
        except re.error:
            pass  # a bad trust pattern must not stop the ward talking; config tests catch it
    if _DOB_WORDS.search(text or "") or _DATE_THEN_NAME.search(text or "") or any(
            not _NOT_NAMES.intersection(w.lower().strip(".") for w in m["name"].split())
            for m in _NAME_THEN_DATE.finditer(text or "")):
        return Finding("date_of_birth")
    return None
