import dataclasses
from datetime import UTC, datetime

import pytest

from app.models import (
    BadUserInput,
    Conflict,
    FieldCause,
    Forbidden,
    Internal,
    Label,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ResourceAmounts,
    RestartPolicy,
    Sandbox,
    SandboxError,
    SandboxPhase,
    SandboxSpec,
    Timeout,
    Unauthenticated,
    Unavailable,
)


@pytest.mark.parametrize(
    ("error_class", "code"),
    [
        (BadUserInput, "BAD_USER_INPUT"),
        (NotFound, "NOT_FOUND"),
        (Conflict, "CONFLICT"),
        (Forbidden, "FORBIDDEN"),
        (Unauthenticated, "UNAUTHENTICATED"),
        (RateLimited, "RATE_LIMITED"),
        (QuotaExceeded, "QUOTA_EXCEEDED"),
        (Timeout, "TIMEOUT"),
        (Unavailable, "UNAVAILABLE"),
        (Internal, "INTERNAL"),
    ],
)
def test_every_contract_code_has_a_class(error_class: type[SandboxError], code: str) -> None:
    error = error_class("something went wrong")
    assert isinstance(error, SandboxError)
    assert error.code == code
    assert error.message == str(error) == "something went wrong"
    assert error.extensions() == {"code": code}


def test_bad_user_input_extensions() -> None:
    error = BadUserInput(
        "invalid pod",
        field="input.resources.limits.memoryMi",
        causes=(FieldCause("spec.containers[0].image", "Required value"),),
    )
    assert error.extensions() == {
        "code": "BAD_USER_INPUT",
        "field": "input.resources.limits.memoryMi",
        "causes": [{"field": "spec.containers[0].image", "message": "Required value"}],
    }


def test_rate_limited_extensions() -> None:
    assert RateLimited("slow down", retry_after_seconds=2.5).extensions() == {
        "code": "RATE_LIMITED",
        "retryAfterSeconds": 2.5,
    }


def test_values_are_frozen_and_hashable() -> None:
    sandbox = Sandbox(
        "n",
        "ns",
        "busybox",
        SandboxPhase.RUNNING,
        datetime(2024, 1, 1, tzinfo=UTC),
        labels=(Label("a", "1"),),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        sandbox.name = "other"  # type: ignore[misc]
    assert hash(sandbox) == hash(dataclasses.replace(sandbox))
    assert sandbox.labels_as_dict() == {"a": "1"}
    assert hash(SandboxSpec("busybox")) == hash(SandboxSpec("busybox"))


def test_optional_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ResourceAmounts(256, 250)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        SandboxSpec("busybox", ("sh",))  # type: ignore[call-arg]


def test_enum_values_are_the_kubernetes_spellings() -> None:
    assert [policy.value for policy in RestartPolicy] == ["Never", "OnFailure", "Always"]
    assert RestartPolicy("OnFailure") is RestartPolicy.ON_FAILURE
    assert [phase.name for phase in SandboxPhase] == [
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "UNKNOWN",
    ]
    assert {p for p in SandboxPhase if p.is_terminal} == {
        SandboxPhase.SUCCEEDED,
        SandboxPhase.FAILED,
    }
