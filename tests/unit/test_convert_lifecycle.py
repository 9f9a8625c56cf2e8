"""The converter's reading of what issue 5 added to the pod: annotations, last state, grace."""

from __future__ import annotations

from datetime import UTC, datetime

from app.models import DeletionReason
from tests.unit import podstates as p


def test_service_annotations_become_fields() -> None:
    pod = p.running()
    pod["metadata"]["annotations"].update(
        {
            "kata-sandbox-api/expires-at": "2026-12-04T16:00:00.000000Z",
            "kata-sandbox-api/deletion-reason": "EXPIRED",
            "kata-sandbox-api/idempotency-key": "order-1",
        }
    )
    sandbox = p.sandbox(pod)
    assert sandbox.expires_at == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert sandbox.deletion_reason is DeletionReason.EXPIRED
    assert sandbox.idempotency_key == "order-1"
    pod["metadata"]["annotations"]["kata-sandbox-api/deletion-reason"] = "SOMETHING-NEW"
    assert p.sandbox(pod).deletion_reason is None


def test_last_termination_and_deletion_grace() -> None:
    sandbox = p.sandbox(p.terminating(p.crash_loop(last_reason="OOMKilled", last_code=137)))
    (container,) = sandbox.containers
    assert (container.last_termination_reason, container.last_exit_code) == ("OOMKilled", 137)
    assert sandbox.deletion_grace_period_seconds == 10
    assert sandbox.deletion_requested_at == datetime(2026, 12, 4, 15, 54, 49, tzinfo=UTC)
    assert p.sandbox(p.running()).deletion_requested_at is None
