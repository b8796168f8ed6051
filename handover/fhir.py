"""FHIR R4 export of a handover: a ``document`` Bundle (Composition first, then Patients, Practitioners, Tasks).

There is no standard code (LOINC or SNOMED) for SBAR / I-PASS headings, so sections and the document type use a
local CodeSystem (``LOCAL_CODESYSTEM``). Patients carry the NHS number under ``https://fhir.nhs.uk/Id/nhs-number``
and claim the UK Core Patient profile. A pure function of the loaded sheet: no queries of its own.
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime

from handover.models import HandoverStyle
from handover.payload import Sheet, actions_of

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
UK_CORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
LOCAL_CODESYSTEM = "https://shiftbridge.invalid/fhir/CodeSystem/handover-section"
HOSPITAL_NUMBER_SYSTEM = "https://shiftbridge.invalid/fhir/Id/hospital-number"
XHTML = "http://www.w3.org/1999/xhtml"
_NS = uuid.UUID("6f1c2a7e-8f0a-4b7e-9a51-5b2f1d7c0e11")

# (code, SBAR title, I-PASS title, entry attribute)
HEADINGS = [
    ("illness-severity", "Illness severity", "Illness severity", "severity"),
    ("situation", "Situation", "Situation awareness", "situation"),
    ("background", "Background", "Patient summary", "background"),
    ("assessment", "Assessment", "Assessment", "assessment"),
    ("recommendation", "Recommendation", "Recommendation", "recommendation"),
    ("contingency", "Contingency (if … then …)", "Contingency (if … then …)", "contingency"),
    ("synthesis", "Receiver's synthesis / read-back", "Synthesis by receiver", "synthesis"),
]
ACTIONS_CODE = "action-list"


def _urn(*parts) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_NS, "/".join(map(str, parts))))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def narrative(text: str) -> dict:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>{html.escape(text, quote=False)}</p></div>'}


_DIV = re.compile(r'^<div xmlns="http://www\.w3\.org/1999/xhtml"><p>(.*)</p></div>$', re.S)


def text_of(narr: dict) -> str:
    """Inverse of :func:`narrative` (used by the round-trip tests and by importers)."""
    match = _DIV.match(narr["div"])
    return html.unescape(match.group(1)) if match else ""


def _coding(code: str, display: str) -> dict:
    return {"system": LOCAL_CODESYSTEM, "code": code, "display": display}


def _practitioner(user) -> tuple[str, dict]:
    url = _urn("practitioner", user.id)
    return url, {"resourceType": "Practitioner", "id": url.rsplit(":", 1)[1],
                 "name": [{"text": user.display_name}], "active": bool(user.active)}


def _patient(p) -> tuple[str, dict]:
    url = _urn("patient", p.id)
    resource = {"resourceType": "Patient", "id": url.rsplit(":", 1)[1], "meta": {"profile": [UK_CORE_PATIENT]}}
    identifiers = []
    if p.nhs_number:
        identifiers.append({"system": NHS_NUMBER_SYSTEM, "value": p.nhs_number})
    if p.hospital_number:
        identifiers.append({"system": HOSPITAL_NUMBER_SYSTEM, "value": p.hospital_number})
    if identifiers:
        resource["identifier"] = identifiers
    parts = p.name.rsplit(" ", 1)
    name = {"text": p.name, "family": parts[-1]}
    if len(parts) == 2:
        name["given"] = [parts[0]]
    resource["name"] = [name]
    if p.date_of_birth:
        resource["birthDate"] = p.date_of_birth.isoformat()
    return url, resource


def export_bundle(sheet: Sheet, *, now: datetime | None = None) -> dict:
    h = sheet.handover
    now = now or datetime.now(UTC)
    ipass = h.style == HandoverStyle.ipass
    practitioners: dict[int, tuple[str, dict]] = {}

    def prac(user) -> dict:
        if user.id not in practitioners:
            practitioners[user.id] = _practitioner(user)
        return {"reference": practitioners[user.id][0], "display": user.display_name}

    composition_url = _urn("composition", h.id)
    authors = [prac(h.outgoing)]
    patients, tasks, sections, attesters = [], [], [], {}
    for entry in sheet.entries:
        p = entry.patient
        p_url, p_res = _patient(p)
        patients.append((p_url, p_res))
        subsections = []
        for code, sbar_title, ipass_title, attr in HEADINGS:
            value = getattr(entry, attr)
            value = value.value if attr == "severity" else (value or "")
            if not value:
                continue
            title = ipass_title if ipass else sbar_title
            subsections.append({"title": title, "code": {"coding": [_coding(code, title)]},
                                "text": narrative(value)})
        task_refs = []
        for action in actions_of(entry):
            # stable across saves (each save is a new entry row): the action in this place of this patient's list
            # in this handover, so a receiving system updates its task instead of creating another
            t_url = _urn("task", h.id, p.id, action["index"])
            task = {"resourceType": "Task", "id": t_url.rsplit(":", 1)[1],
                    "status": "completed" if action["done_at"] else "requested", "intent": "order",
                    "description": action["text"], "for": {"reference": p_url},
                    "authoredOn": _iso(entry.updated_at), "requester": prac(entry.author or h.outgoing)}
            if action["owner"]:
                task["owner"] = {"display": action["owner"]}
            if action["due_at"]:
                task["restriction"] = {"period": {"end": action["due_at"].replace("+00:00", "Z")}}
            if action["done_at"]:
                task["lastModified"] = action["done_at"].replace("+00:00", "Z")
                task["note"] = [{"text": f"Done by {action['done_by']}"}]
            tasks.append((t_url, task))
            task_refs.append({"reference": t_url, "display": action["text"][:80]})
        if task_refs:
            subsections.append({"title": "Action list", "code": {"coding": [_coding(ACTIONS_CODE, "Action list")]},
                                "entry": task_refs})
        status_line = f"Version {entry.version}."
        if entry.accepted_at and entry.accepted_by:
            status_line += f" Accepted by {entry.accepted_by.display_name} at {_iso(entry.accepted_at)}."
            if entry.readback_note:
                status_line += f" Read-back: {entry.readback_note}"
            previous = attesters.get(entry.accepted_by.id)
            if previous is None or previous[0] < entry.accepted_at:
                attesters[entry.accepted_by.id] = (entry.accepted_at, entry.accepted_by)
        else:
            status_line += " Not yet accepted."
        if entry.author and entry.author.id != h.outgoing_id:
            authors.append(prac(entry.author))
        sections.append({
            "title": f"{p.location or 'No bed'} — {p.name}",
            "code": {"coding": [_coding("patient", "Patient handover")]},
            "focus": {"reference": p_url, "display": p.name},
            "text": narrative(status_line),
            "section": subsections or None,
        })
        if not subsections:
            sections[-1].pop("section")
    if h.incoming is not None:
        prac(h.incoming)
    composition = {
        "resourceType": "Composition",
        "id": composition_url.rsplit(":", 1)[1],
        "status": "final" if h.accepted_at and h.state.value == "accepted" else "preliminary",
        "type": {"coding": [_coding("handover", "Clinical handover")],
                 "text": "I-PASS handover" if ipass else "SBAR handover"},
        "date": _iso(h.starts_at),
        "author": list({a["reference"]: a for a in authors}.values()),
        "title": f"{h.team.name}: {h.label}",
        "section": sections,
    }
    if attesters:
        composition["attester"] = [{"mode": "professional", "time": _iso(at), "party": prac(user)}
                                   for at, user in sorted(attesters.values(), key=lambda x: x[0])]
    stamp = max([e.updated_at for e in sheet.entries] + [h.created_at])
    entries = [{"fullUrl": composition_url, "resource": composition}]
    entries += [{"fullUrl": url, "resource": res} for url, res in patients]
    entries += [{"fullUrl": url, "resource": res} for url, res in practitioners.values()]
    entries += [{"fullUrl": url, "resource": res} for url, res in tasks]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": _urn("bundle", h.id, _iso(stamp),
                                                                    _iso(h.accepted_at))},
        "type": "document",
        "timestamp": _iso(now),
        "entry": entries,
    }
