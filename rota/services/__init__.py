"""Rota services: shift types, requirements, shifts, patterns, periods and publishing, gaps, leave, CSV import,
the team grid and *My shifts*, one module each (``access``, ``shift_types``, ``shifts``, ``building``, ``periods``,
``gaps``, ``leave``, ``imports``, ``grid``). This package re-exports their names, so callers keep writing
``services.add_shift``.

House rules: services take domain objects and ``actor=``, raise ``core.errors`` domain errors, write an audit entry
for every change, and never commit. Every change of a shift's holder goes through
``rota.assignment.set_assignee``.

Extension points other modules register into (plain lists, appended to at start-up): ``PUBLISH_CHECKS``
(``rota.services.periods``) ``GRID_CELL_HOOKS`` and ``PEOPLE_STAMPS`` (``rota.services.grid``).
"""
from __future__ import annotations

# Names callers read through ``services`` before the split (``services.now_utc()``, ``services.Team``).
from core.accounts import GRADES, Membership, StaffGroup, Team, TeamRole, User, grade_rank  # noqa: F401
from core.db import now_utc  # noqa: F401
from core.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation, ValidationFailed  # noqa: F401
from rota.models import (  # noqa: F401
    Leave,
    LeaveKind,
    PeriodState,
    ReleaseKind,
    RotaPeriod,
    Shift,
    ShiftKind,
    ShiftState,
    ShiftType,
    StaffingRequirement,
)
from rota.services.access import (  # noqa: F401
    add_member,
    check_id,
    create_team,
    get_period,
    get_shift,
    get_team,
    get_user,
    require_manage,
    require_member,
    require_view,
    visible_teams,
)
from rota.services.building import (  # noqa: F401
    BuildReport,
    bulk_create,
    copy_week,
    generate_from_pattern,
)
from rota.services.gaps import (  # noqa: F401
    Gap,
    compute_gaps,
    gap_start,
    gaps_for,
    open_gap,
    opening_requirements,
)
from rota.services.grid import (  # noqa: F401
    GRID_CELL_HOOKS,
    PEOPLE_STAMPS,
    DayCoverage,
    Grid,
    GridCell,
    GridRow,
    MyShift,
    MyShiftRow,
    next_shifts,
    shift_line,
    team_grid,
)
from rota.services.imports import (  # noqa: F401
    ImportFailed,
    import_assignments,
)
from rota.services.leave import (  # noqa: F401
    LEAVE_CODES,
    add_leave_record,
    leave_overlapping,
    leave_query,
    record_leave,
)
from rota.services.periods import (  # noqa: F401
    PUBLISH_CHECKS,
    create_period,
    periods,
    publish_period,
)
from rota.services.shift_types import (  # noqa: F401
    CODE_RE,
    COLOUR_RE,
    create_requirement,
    create_shift_type,
    one_person_label,
    requirement_label,
    requirements,
    shift_types,
    type_of,
)
from rota.services.shifts import (  # noqa: F401
    MAX_RANGE_DAYS,
    add_shift,
    assign,
    cancel_shift,
    check_shift_times,
    edit_shift,
    is_visible,
    local_day,
    period_for,
    shift_item_rows,
    shifts_query,
    team_zone_and_role,
)
