from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from app.config import KubernetesSettings
from app.kube.convert import sandbox_from_pod
from app.models import (
    BadUserInput,
    Conflict,
    EnvVar,
    Label,
    RateLimited,
    RestartPolicy,
    Sandbox,
    SandboxPhase,
    SandboxSpec,
)
from app.models.kubernetes_names import is_dns1123_label, is_label_value
from app.sandboxes.idempotency import (
    candidate_names,
    find_by_key,
    holds_key,
    key_hash,
    replay,
    spec_hash,
)
from app.sandboxes.manifest import build_pod_manifest
from app.sandboxes.rate_limit import (
    CreationRateLimiter,
    creations_in_window,
    retry_after_seconds,
)

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
SETTINGS = KubernetesSettings()
SPEC = SandboxSpec(
    image="busybox",
    labels=(Label("team", "a"), Label("tier", "b")),
    env=(EnvVar("A", "1"),),
    idempotency_key="order-7f3c2a",
)


def pod_for(spec: SandboxSpec, name: str) -> Sandbox:
    manifest = build_pod_manifest(spec, SETTINGS, name=name, created_at=NOW)
    manifest["metadata"]["resourceVersion"] = "1"
    return sandbox_from_pod(manifest)


# -- idempotency -------------------------------------------------------------------------------


def test_the_key_hash_is_a_valid_label_value_and_names_are_valid_and_fixed() -> None:
    assert is_label_value(key_hash("any key, with spaces and ünïcode"))
    names = candidate_names("kata-sandbox", "order-7f3c2a", 5)
    assert names == candidate_names("kata-sandbox", "order-7f3c2a", 5)
    assert len(set(names)) == 5
    assert all(is_dns1123_label(n) and len(n) == len("kata-sandbox-") + 8 for n in names)
    assert candidate_names("kata-sandbox", "order-7f3c2b", 1)[0] != names[0]


def test_spec_hash_ignores_label_order_timeout_and_key_but_not_the_rest() -> None:
    same = dataclasses.replace(
        SPEC,
        labels=tuple(reversed(SPEC.labels)),
        ready_timeout_seconds=30,
        idempotency_key="another",
    )
    assert spec_hash(same) == spec_hash(SPEC)
    for change in (
        {"image": "busybox:1.37"},
        {"env": (EnvVar("A", "2"),)},
        {"restart_policy": RestartPolicy.ALWAYS},
        {"ttl_seconds": 600},
        {"command": ("sleep", "1")},
    ):
        assert spec_hash(dataclasses.replace(SPEC, **change)) != spec_hash(SPEC), change


def test_the_pod_carries_the_key_its_hash_and_the_spec_hash() -> None:
    sandbox = pod_for(SPEC, candidate_names("kata-sandbox", "order-7f3c2a", 1)[0])
    assert sandbox.idempotency_key == "order-7f3c2a"
    assert sandbox.labels_as_dict()["kata-sandbox-api/idempotency-key-hash"] == key_hash(
        "order-7f3c2a"
    )
    assert holds_key(sandbox, "order-7f3c2a")
    assert not holds_key(sandbox, "order-other")
    assert find_by_key([sandbox], "order-7f3c2a") is sandbox
    assert find_by_key([sandbox], "order-other") is None
    assert replay(sandbox, SPEC) is sandbox
    with pytest.raises(Conflict, match="different spec"):
        replay(sandbox, dataclasses.replace(SPEC, image="alpine"))


def test_keys_are_validated() -> None:
    for key, message in (("", "1 to 256"), ("x" * 257, "1 to 256"), ("a\nb", "control")):
        with pytest.raises(BadUserInput, match=message) as error:
            build_pod_manifest(
                dataclasses.replace(SPEC, idempotency_key=key), SETTINGS, name="n", created_at=NOW
            )
        assert error.value.field == "input.idempotencyKey"


# -- rate limit --------------------------------------------------------------------------------


def sandbox_created(seconds_ago: float, name: str) -> Sandbox:
    return Sandbox(
        name=name,
        namespace="ns",
        image="busybox",
        phase=SandboxPhase.RUNNING,
        created_at=NOW - timedelta(seconds=seconds_ago),
    )


def test_only_creations_within_the_last_minute_count() -> None:
    times = [NOW - timedelta(seconds=s) for s in (0, 10, 59.9, 60, 61, 3600)]
    assert creations_in_window(times, NOW) == sorted(times[:3])


def test_retry_after_is_when_enough_creations_leave_the_window() -> None:
    recent = sorted(NOW - timedelta(seconds=s) for s in (50, 30, 10))
    # Limit 3: the oldest (50 s ago) leaves in 10 s, then there is room for one.
    assert retry_after_seconds(recent, NOW, 3) == 10
    # Limit 2: two must leave; the second oldest (30 s ago) leaves in 30 s.
    assert retry_after_seconds(recent, NOW, 2) == 30
    assert retry_after_seconds(recent, NOW, 4) == 0


def test_limiter_counts_the_store_and_creations_in_flight() -> None:
    limiter = CreationRateLimiter(3, clock=lambda: NOW)
    store = [sandbox_created(45, "a"), sandbox_created(20, "b"), sandbox_created(90, "old")]
    limiter.check(store)
    with limiter.reserve(store, "c"):
        with pytest.raises(RateLimited) as refused:
            limiter.check(store)
        assert refused.value.retry_after_seconds == 15
        assert refused.value.extensions()["retryAfterSeconds"] == 15
        assert "3 sandboxes" in refused.value.message
    limiter.check(store)  # the reservation ended
    CreationRateLimiter(None, clock=lambda: NOW).check(
        [sandbox_created(1, str(i)) for i in range(99)]
    )
