"""RFC 9457 problem documents (application/problem+json) for everything the API refuses.

The service layer's errors carry their status (engine.errors): 403 permission, 404 not found, 409 version
conflict or a state that does not allow the action, 422 validation with every problem by field.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ServiceError, ValidationFailed
from engine.web.api.jsonio import BadRequest

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
}


class ApiProblem(Exception):
    """A refusal made by the API itself (not the service layer): a bad path, parameter or method."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
            **extra}


def from_service_error(error: ServiceError) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationFailed):
        extra["errors"] = [{"field": p.field, "message": p.message} for p in error.problems]
    referrers = getattr(error, "referrers", None)
    if referrers:
        extra["used_by"] = [{"what": what, "records": titles} for what, titles in referrers]
    return problem(error.status, error.message, **extra)


def refusal(error: ApiProblem | BadRequest | ServiceError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, problem document and headers for a refusal of any kind."""
    if isinstance(error, ApiProblem):
        return error.status, problem(error.status, error.detail, **{k: v for k, v in error.extra.items()
                                                                    if k != "headers"}), \
            dict(error.extra.get("headers", {}))
    if isinstance(error, BadRequest):
        return error.status, problem(error.status, error.message), {}
    return error.status, from_service_error(error), {}
