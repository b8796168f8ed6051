"""The JSON API: flask-smorest set-up, the problem+json error schema, shared fields and API auth helpers."""

from __future__ import annotations

import http
from datetime import UTC
from functools import wraps

from flask import abort
from flask_login import current_user
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.spec import prepare_response
from marshmallow import Schema, ValidationError, fields, validate
from webargs.core import missing
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from core.errors import PROBLEM_JSON
from core.limits import FIRST_YEAR, JSON_MAX_DEPTH, LAST_YEAR, MAX_ID  # noqa: F401  (core.api.MAX_ID)
from core.links import LINK_HELP, is_local_path


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String()
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict()
    request_id = fields.String()

    class Meta:
        unknown = "include"


class Api(_Api):
    """flask-smorest's Api, with the OpenAPI document written when it is first read (``/api/v1/openapi.json``,
    ``flask openapi``), not while the app is built: describing every view took most of ``create_app``'s time, which
    every worker start and every test pays, for a document most processes never serve."""

    ERROR_SCHEMA = ProblemSchema

    @property
    def spec(self):
        pending, self._pending_docs = getattr(self, "_pending_docs", []), []
        for write in pending:
            write()
        return self._spec

    @spec.setter
    def spec(self, value):
        self._spec = value

    def _later(self, write):
        self.__dict__.setdefault("_pending_docs", []).append(write)

    def register_blueprint(self, blp, *, parameters=None, **options):
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def write():  # what flask-smorest's register_blueprint adds to the document
            blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
            self._spec.tag({"name": name, "description": blp.description})

        self._later(write)

    def _register_etag_headers(self):
        self._later(super()._register_etag_headers)

    def _register_pagination_header(self):
        self._later(super()._register_pagination_header)

    def _register_responses(self):
        self._later(self._write_responses)

    def _write_responses(self):
        # Same as flask-smorest's, but errors are documented as application/problem+json, as they are sent.
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def _register_error_handlers(self):
        # core.errors owns error rendering for the whole app (HTML and problem+json alike).
        pass


def make_api(app) -> Api:
    """One Api per application (tests build many apps; a module-level Api would mix their specs)."""
    api = Api(app, spec_kwargs={
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearerAuth": []}],
    })
    app.extensions["shiftbridge_api"] = api
    return api


# ----------------------------------------------------------------------------------------------- request parsing

TOO_DEEP = f"The JSON body is nested too deeply (at most {JSON_MAX_DEPTH} levels of objects and lists)."
OUT_OF_RANGE = "A value is too far out of range to use (for example a date near the year 1 or 9999)."


def _deeper_than(data, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class Parser(FlaskParser):
    """webargs' parser, made total: no request body or query can make parsing raise anything but a 4xx.

    Deeply nested JSON is refused with 400 before it is walked (Python's json module and every recursive walker
    after it hit RecursionError); an OverflowError or RecursionError while loading a schema (a validator doing date
    arithmetic at the edge of the calendar) becomes a 422 instead of a 500.
    """

    def _raw_load_json(self, req):
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            data = None
            deep = True
        else:
            deep = data is not missing and isinstance(data, dict | list) and _deeper_than(data, JSON_MAX_DEPTH)
        if deep:
            err = BadRequest(description=TOO_DEEP)
            err.data = {"messages": {"json": [TOO_DEEP]}}
            raise err
        return data

    def _process_location_data(self, location_data, schema, req, location, unknown, validators):
        try:
            return super()._process_location_data(location_data, schema, req, location, unknown, validators)
        except (OverflowError, RecursionError):
            raise ValidationError({"_schema": [OUT_OF_RANGE]})


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = Parser()


# ------------------------------------------------------------------------------------------------ shared fields

IN_RANGE = f"Give a time between the years {FIRST_YEAR} and {LAST_YEAR}."


class _InCalendar:
    """Every instant the API reads is refused (422, naming the field) unless it lies between FIRST_YEAR and
    LAST_YEAR both as written and in UTC, so no later conversion or arithmetic can overflow."""

    def _deserialize(self, value, attr, data, **kwargs):
        dt = super()._deserialize(value, attr, data, **kwargs)
        try:
            utc_year = dt.astimezone(UTC).year if dt.tzinfo else dt.year
        except OverflowError:
            utc_year = 0
        if not (FIRST_YEAR <= dt.year <= LAST_YEAR and FIRST_YEAR <= utc_year <= LAST_YEAR):
            raise self.make_error("out_of_range")
        return dt


class DateTime(_InCalendar, fields.DateTime):
    """An ISO 8601 date and time, with or without an offset, between FIRST_YEAR and LAST_YEAR."""

    default_error_messages = {"out_of_range": IN_RANGE}


class AwareDateTime(_InCalendar, fields.AwareDateTime):
    """An ISO 8601 date and time with an offset, between FIRST_YEAR and LAST_YEAR."""

    default_error_messages = {"out_of_range": IN_RANGE}



def _printable(value: str) -> None:
    # PostgreSQL refuses NUL in text and psycopg cannot encode lone surrogates: refuse them here, with a message,
    # rather than let the database raise a 500.
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text.")


def Text(*, max_len: int, min_len: int = 0, validate=None, **kw) -> fields.String:
    extra = [] if validate is None else (list(validate) if isinstance(validate, (list, tuple)) else [validate])
    return fields.String(validate=[_length(min_len, max_len), _printable, *extra], **kw)


def _length(lo: int, hi: int):
    return validate.Length(min=lo, max=hi)


def _local_link(value: str | None) -> None:
    if value is not None and not is_local_path(value):
        raise ValidationError(LINK_HELP)


def LocalPath(*, max_len: int, **kw) -> fields.String:
    """A link a person gives that the app will later send people to: a path on this site (see core.links)."""
    return Text(max_len=max_len, validate=_local_link, **kw)



def Id(**kw) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kw)


def QueryId(**kw) -> fields.Integer:
    """An id in a query string: text there is the norm, so not strict (a strict Id refuses every value)."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kw)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_schema(item_schema, name: str):
    return Schema.from_dict(
        {
            # one dump of the whole list (``many``), not one nested dump per item; the same JSON and OpenAPI array
            "items": fields.Nested(item_schema, many=True, required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
        },
        name=name,
    )


# ---------------------------------------------------------------------------------------------------- auth


def login_required_api(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            abort(401, description="Sign in, or send a personal API token as 'Authorization: Bearer <token>'.")
        return view(*args, **kwargs)

    return wrapper


def admin_required_api(view):
    @wraps(view)
    @login_required_api
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403, description="Only administrators can do this.")
        return view(*args, **kwargs)

    return wrapper


__all__ = ["make_api", "Blueprint", "Parser", "ProblemSchema", "DateTime", "AwareDateTime", "Text", "LocalPath",
           "Id", "QueryId", "PageArgs", "page_schema", "login_required_api", "admin_required_api"]
