"""API endpoints of the platform: who am I, accounts (administrators) and the audit trail."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, post_load, validate

from core import accounts, audit_trail
from core.accounts import GRADES, StaffGroup, User
from core.api import (
    AwareDateTime,
    Blueprint,
    PageArgs,
    QueryId,
    Text,
    admin_required_api,
    login_required_api,
    page_schema,
)
from core.db import db

blp = Blueprint("core_api", __name__, url_prefix="/api/v1", description="Accounts and audit trail")


class MembershipSchema(Schema):
    team_id = fields.Integer()
    team_name = fields.Function(lambda m: m.team.name)
    role = fields.Function(lambda m: m.role.value)


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    display_name = fields.String()
    mobile = fields.String(allow_none=True)
    staff_number = fields.String(allow_none=True)
    staff_group = fields.Function(lambda u: u.staff_group.value)
    grade = fields.String(allow_none=True)
    skills = fields.List(fields.String())
    is_admin = fields.Boolean()
    active = fields.Boolean()
    memberships = fields.List(fields.Nested(MembershipSchema))


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=[validate.Length(max=254)])
    display_name = Text(required=True, min_len=1, max_len=120)
    password = Text(required=True, min_len=accounts.MIN_PASSWORD, max_len=256, load_only=True)
    mobile = Text(max_len=32, allow_none=True)
    staff_number = Text(max_len=32, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,32}$"))
    staff_group = fields.String(load_default="nursing", validate=validate.OneOf([g.value for g in StaffGroup]))
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    skills = fields.List(Text(min_len=1, max_len=64), load_default=list, validate=validate.Length(max=50))
    is_admin = fields.Boolean(load_default=False)

    @post_load
    def strip(self, data, **kwargs):
        data["display_name"] = data["display_name"].strip()
        if not data["display_name"]:

            raise ValidationError({"display_name": ["Enter a name."]})
        return data


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_label = fields.String(allow_none=True)
    action = fields.String()
    entity_type = fields.String(allow_none=True)
    entity_id = fields.String(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    request_id = fields.String(allow_none=True)
    outcome = fields.String()
    summary = fields.Dict()
    hash = fields.String()


class AuditArgs(PageArgs):
    team_id = QueryId()
    actor_id = QueryId()
    entity_type = Text(max_len=64)
    entity_id = Text(max_len=64)
    action = Text(max_len=64)
    since = AwareDateTime()
    until = AwareDateTime()


class UserListArgs(PageArgs):
    q = Text(max_len=120)


@blp.get("/me")
@blp.response(200, UserSchema)
@login_required_api
def me():
    """The signed-in person, with their team roles."""
    return current_user


@blp.get("/users")
@blp.arguments(UserListArgs, location="query")
@blp.response(200, page_schema(UserSchema, "UserPage"))
@admin_required_api
def list_users(args):
    """All accounts (administrators only)."""
    stmt = db.select(User).order_by(User.id)
    if args.get("q"):
        like = f"%{args['q']}%"
        stmt = stmt.where(User.display_name.ilike(like) | User.email.ilike(like))
    total = db.session.scalar(db.select(db.func.count()).select_from(stmt.subquery()))
    items = db.session.scalars(stmt.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.post("/users")
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
@admin_required_api
def create_user(data):
    """Create an account (administrators only)."""
    user = accounts.create_user(actor=current_user, **data)
    db.session.commit()
    return user


@blp.get("/audit")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, page_schema(AuditEntrySchema, "AuditPage"))
@login_required_api
def list_audit(args):
    """The audit trail, newest first: administrators see all of it, coordinators their teams' entries."""
    page_no, per_page = args.pop("page"), args.pop("per_page")
    rows, total = audit_trail.page(audit_trail.visible_query(current_user, **args), page_no, per_page)
    return {"items": rows, "page": page_no, "per_page": per_page, "total": total}
