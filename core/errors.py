"""Domain errors: the types services raise. ``core.handlers`` turns them (and every other error) into responses.

A leaf: imports nothing, so any module may raise these.
"""

from __future__ import annotations

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict | None = None, extra: dict | None = None,
                 audit: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        # An audit entry to keep although the refused change is rolled back (keyword arguments of
        # ``core.audit.record``, ids and codes only): whoever owns the transaction records it after the rollback.
        self.audit = audit


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class RuleViolation(DomainError):
    status = 422
    title = "Rule violation"


class ValidationFailed(DomainError):
    status = 422
    title = "Validation failed"


class Busy(DomainError):
    """A bounded resource (e.g. photo processing) is fully in use: 503 with ``Retry-After``, never an unbounded
    queue."""

    status = 503
    title = "Busy"

    def __init__(self, detail: str, *, retry_after: int = 30, **kwargs):
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
