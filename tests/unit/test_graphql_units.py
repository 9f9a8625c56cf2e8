"""The GraphQL layer's pure parts: cursors, error mapping, input conversion, the DateTime scalar."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from graphql import GraphQLError

from app import models
from app.graphql.enums import RestartPolicy, SandboxPhase
from app.graphql.errors import INTERNAL_MESSAGE, client_error
from app.graphql.inputs import (
    CreateSandboxInput,
    EnvVarInput,
    LabelInput,
    ResourceAmountsInput,
    ResourcesInput,
    SandboxFilterInput,
    SandboxMatcher,
    ScratchVolumeInput,
)
from app.graphql.pagination import PageRequest, decode_cursor, encode_cursor
from app.graphql.scalars import parse_datetime, serialize_datetime
from app.graphql.types import Sandbox, log_options

CREATED = datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)


def _sandbox(name: str = "kata-sandbox-0a1b2c3d", **changes: object) -> models.Sandbox:
    fields: dict[str, object] = {
        "name": name,
        "namespace": "sandbox-containers",
        "image": "busybox",
        "phase": models.SandboxPhase.RUNNING,
        "created_at": CREATED,
        "ready": True,
        "labels": (models.Label("team", "a"),),
    }
    fields.update(changes)
    return models.Sandbox(**fields)  # type: ignore[arg-type]


# -- cursors -------------------------------------------------------------------------------


def test_a_cursor_round_trips_to_the_sort_key() -> None:
    sandbox = _sandbox()
    assert decode_cursor(encode_cursor(sandbox)) == (CREATED, sandbox.name)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        base64.urlsafe_b64encode(b"v2|2024-05-01T10:00:00+00:00|x").decode(),
        base64.urlsafe_b64encode(b"v1|2024-05-01T10:00:00|x").decode(),  # naive
        base64.urlsafe_b64encode(b"v1|yesterday|x").decode(),
        base64.urlsafe_b64encode(b"v1|2024-05-01T10:00:00+00:00|").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "ünïcode",
    ],
)
def test_a_foreign_cursor_is_bad_user_input(cursor: str) -> None:
    with pytest.raises(models.BadUserInput) as caught:
        decode_cursor(cursor)
    assert caught.value.field == "after"


def test_page_size_defaults_and_bounds() -> None:
    assert PageRequest.parse(None, None, default_size=7, max_size=10).first == 7
    assert PageRequest.parse(10, None, default_size=7, max_size=10).first == 10
    assert PageRequest.parse(0, None, default_size=7, max_size=10).first == 0
    for bad in (-1, 11):
        with pytest.raises(models.BadUserInput) as caught:
            PageRequest.parse(bad, None, default_size=7, max_size=10)
        assert caught.value.extensions() == {"code": "BAD_USER_INPUT", "field": "first"}


# -- errors --------------------------------------------------------------------------------


def _located(cause: Exception | None, message: str = "boom") -> GraphQLError:
    return GraphQLError(message, path=["sandboxes"], original_error=cause)


@pytest.mark.parametrize(
    ("cause", "extensions"),
    [
        (
            models.BadUserInput("bad", field="input.image"),
            {"code": "BAD_USER_INPUT", "field": "input.image"},
        ),
        (models.NotFound("gone"), {"code": "NOT_FOUND"}),
        (models.Conflict("taken"), {"code": "CONFLICT"}),
        (models.Forbidden("no"), {"code": "FORBIDDEN"}),
        (models.Unauthenticated("who"), {"code": "UNAUTHENTICATED"}),
        (
            models.RateLimited("slow", retry_after_seconds=3),
            {"code": "RATE_LIMITED", "retryAfterSeconds": 3},
        ),
        (models.QuotaExceeded("full"), {"code": "QUOTA_EXCEEDED"}),
        (models.Timeout("late"), {"code": "TIMEOUT"}),
        (models.Unavailable("down"), {"code": "UNAVAILABLE"}),
        (
            models.SandboxFailed("failed", reason="Error", exit_code=1),
            {"code": "SANDBOX_FAILED", "reason": "Error", "exitCode": 1},
        ),
    ],
)
def test_domain_errors_keep_message_and_extensions(
    cause: models.SandboxError, extensions: dict[str, object]
) -> None:
    mapped = client_error(_located(cause))
    assert mapped.message == cause.message
    assert mapped.extensions == extensions
    assert mapped.path == ["sandboxes"]
    assert mapped.original_error is None


@pytest.mark.parametrize(
    "cause",
    [
        RuntimeError("https://10.0.0.1:6443 token=secret"),
        models.Internal("https://10.0.0.1:6443 said no"),
        models.SandboxError("watch error: https://10.0.0.1:6443"),
        KeyError("secret"),
    ],
)
def test_everything_else_is_internal_and_logged(
    cause: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.graphql.errors"):
        mapped = client_error(_located(cause, str(cause)))
    assert mapped.message == INTERNAL_MESSAGE
    assert mapped.extensions is not None
    assert mapped.extensions["code"] == "INTERNAL"
    reference = mapped.extensions["reference"]
    assert isinstance(reference, str)
    assert "10.0.0.1" not in str(mapped.formatted)
    assert "secret" not in str(mapped.formatted)
    [record] = [r for r in caplog.records if reference in r.getMessage()]
    assert record.exc_info is not None
    assert record.exc_info[1] is cause


def test_graphql_errors_without_a_cause_are_bad_user_input() -> None:
    validation = GraphQLError("Cannot query field 'nope' on type 'Query'.")
    assert client_error(validation).extensions == {"code": "BAD_USER_INPUT"}
    coercion = GraphQLError(
        "Variable '$input' got invalid value", original_error=GraphQLError("Expected type Int")
    )
    assert client_error(coercion).extensions == {"code": "BAD_USER_INPUT"}
    already = GraphQLError("Subscription limit reached", extensions={"code": "X"})
    assert client_error(already) is already


def test_a_wrapped_domain_error_is_found() -> None:
    inner = GraphQLError("x", original_error=models.NotFound("gone"))
    assert client_error(_located(inner)).extensions == {"code": "NOT_FOUND"}


# -- inputs --------------------------------------------------------------------------------


def test_create_input_becomes_a_spec() -> None:
    spec = CreateSandboxInput(
        image="busybox",
        command=["sh"],
        args=["-c", "true"],
        env=[EnvVarInput(name="A", value="1")],
        labels=[LabelInput(key="team", value="a")],
        resources=ResourcesInput(limits=ResourceAmountsInput(memory_mi=1024)),
        restart_policy=RestartPolicy.ON_FAILURE,
        scratch=ScratchVolumeInput(mount_path="/scratch"),
        ready_timeout_seconds=30,
    ).to_spec()
    assert spec == models.SandboxSpec(
        "busybox",
        command=("sh",),
        args=("-c", "true"),
        env=(models.EnvVar("A", "1"),),
        labels=(models.Label("team", "a"),),
        resources=models.ResourceRequirements(limits=models.ResourceAmounts(memory_mi=1024)),
        restart_policy=models.RestartPolicy.ON_FAILURE,
        scratch=models.ScratchVolume("/scratch"),
        ready_timeout_seconds=30,
    )


def test_a_minimal_input_takes_the_defaults() -> None:
    assert CreateSandboxInput(image="busybox").to_spec() == models.SandboxSpec("busybox")
    explicit_nulls = CreateSandboxInput(image="busybox", restart_policy=None, env=None)
    assert explicit_nulls.to_spec() == models.SandboxSpec("busybox")


def test_a_filter_matches_as_the_service_filters() -> None:
    how = SandboxFilterInput(
        label_selector="team in (a,b)", phases=[SandboxPhase.RUNNING], ready=True
    ).to_domain()
    matches = SandboxMatcher(how)
    assert matches(_sandbox())
    assert not matches(_sandbox(labels=(models.Label("team", "c"),)))
    assert not matches(_sandbox(phase=models.SandboxPhase.PENDING))
    assert not matches(_sandbox(ready=False))
    assert SandboxMatcher(None)(_sandbox(ready=False))
    with pytest.raises(models.BadUserInput) as caught:
        SandboxMatcher(SandboxFilterInput(label_selector="a in (").to_domain())
    assert caught.value.field == "filter.labelSelector"


def test_log_options_are_checked() -> None:
    options = log_options(None, 5, 60)
    assert (options.container, options.tail_lines, options.since_seconds) == ("sandbox", 5, 60)
    for args, field in [
        ((None, -1, None), "tailLines"),
        ((None, None, 0), "sinceSeconds"),
        (("", None, None), "container"),
    ]:
        with pytest.raises(models.BadUserInput) as caught:
            log_options(*args)
        assert caught.value.field == field


def test_sandbox_type_from_domain() -> None:
    converted = Sandbox.from_domain(
        _sandbox(pod_ip="10.42.0.7", restart_policy=models.RestartPolicy.NEVER)
    )
    assert converted.phase is SandboxPhase.RUNNING
    assert converted.restart_policy is RestartPolicy.NEVER
    assert converted.pod_ip == "10.42.0.7"
    assert [(label.key, label.value) for label in converted.labels] == [("team", "a")]


# -- DateTime ------------------------------------------------------------------------------


def test_datetime_is_iso_8601_in_utc() -> None:
    assert serialize_datetime(CREATED) == "2024-05-01T10:00:00.250000Z"
    paris = timezone(timedelta(hours=2))
    assert serialize_datetime(datetime(2024, 5, 1, 12, tzinfo=paris)) == "2024-05-01T10:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        serialize_datetime(datetime(2024, 5, 1))
    assert parse_datetime("2024-05-01T10:00:00.25Z") == CREATED
    for bad in ("2024-05-01T10:00:00", "tomorrow", 5):
        with pytest.raises(GraphQLError):
            parse_datetime(bad)
