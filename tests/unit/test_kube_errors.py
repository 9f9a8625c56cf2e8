from __future__ import annotations

import json

import pytest

from app.kube.errors import (
    AlreadyExists,
    ApiRateLimited,
    ResourceExpired,
    TransientApiError,
    error_from_response,
)
from app.kube.transport import RetryPolicy
from app.models import (
    BadUserInput,
    Conflict,
    Forbidden,
    Internal,
    NotFound,
    QuotaExceeded,
    SandboxError,
    Unavailable,
)


def status(code: int, reason: str, message: str, **details: object) -> bytes:
    return json.dumps(
        {"kind": "Status", "code": code, "reason": reason, "message": message, "details": details}
    ).encode()


@pytest.mark.parametrize(
    ("code", "reason", "message", "expected"),
    [
        (400, "BadRequest", "unable to parse requirement", BadUserInput),
        (401, "Unauthorized", "Unauthorized", Unavailable),
        (403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:x:y" cannot', Forbidden),
        (
            403,
            "Forbidden",
            'pods "p" is forbidden: exceeded quota: q, requested: pods=1',
            QuotaExceeded,
        ),
        (404, "NotFound", 'pods "p" not found', NotFound),
        (409, "AlreadyExists", 'pods "p" already exists', AlreadyExists),
        (409, "Conflict", "the object has been modified", Conflict),
        (410, "Expired", "too old resource version: 1 (42)", ResourceExpired),
        (429, "TooManyRequests", "too many requests", ApiRateLimited),
        (500, "InternalError", "etcdserver: request timed out", TransientApiError),
        (503, "ServiceUnavailable", "unavailable", TransientApiError),
        (418, "Teapot", "odd", Internal),
    ],
)
def test_status_codes_map_to_domain_errors(
    code: int, reason: str, message: str, expected: type[SandboxError]
) -> None:
    error = error_from_response(code, status(code, reason, message), action="create pods")
    assert type(error) is expected


def test_forbidden_does_not_reveal_the_identity() -> None:
    body = status(403, "Forbidden", 'User "system:serviceaccount:ns:kata-manager" cannot list')
    error = error_from_response(403, body, action="list pods")
    assert "kata-manager" not in error.message
    assert "list pods" in error.message


def test_a_missing_runtime_class_is_named() -> None:
    message = 'pods "p" is forbidden: pod rejected: RuntimeClass "kata-qemu" not found'
    error = error_from_response(403, status(403, "Forbidden", message), action="create pods")
    assert isinstance(error, Forbidden)
    assert 'RuntimeClass "kata-qemu" not found' in error.message
    assert "not allowed" not in error.message


def test_invalid_carries_field_causes() -> None:
    body = status(
        422,
        "Invalid",
        'Pod "X" is invalid',
        causes=[{"field": "metadata.name", "message": "a lowercase RFC 1123 subdomain"}],
    )
    error = error_from_response(422, body, action="create pods")
    assert isinstance(error, BadUserInput)
    assert error.causes[0].field == "metadata.name"
    assert "RFC 1123" in error.message


def test_retry_after_comes_from_the_header_or_the_details() -> None:
    by_header = error_from_response(
        429, status(429, "TooManyRequests", "slow down"), headers={"Retry-After": "3"}, action="x"
    )
    by_details = error_from_response(
        503, status(503, "ServiceUnavailable", "", retryAfterSeconds=7), action="x"
    )
    assert isinstance(by_header, ApiRateLimited)
    assert by_header.retry_after_seconds == 3.0
    assert isinstance(by_details, TransientApiError)
    assert by_details.retry_after_seconds == 7.0


def test_an_unparsable_body_still_maps() -> None:
    assert isinstance(error_from_response(404, b"<html>", action="get pods"), NotFound)
    assert isinstance(error_from_response(502, None, action="get pods"), TransientApiError)


def test_retry_delay_grows_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=2.0, max_retry_after=10.0)
    for attempt in range(8):
        assert 0 <= policy.delay(attempt, None) <= min(2.0, 0.5 * 2**attempt)
    assert policy.delay(0, 4.0) >= 4.0
    assert policy.delay(0, 60.0) == 10.0
