"""Validation added for security: the registry allowlist, NUL and lone surrogates in free text,
the tenant label in the manifest, and the per-tenant quota counter."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.auth import TenantQuotas
from app.config import KubernetesSettings
from app.kube.ownership import TENANT_LABEL
from app.models import (
    BadUserInput,
    EnvVar,
    Label,
    QuotaExceeded,
    Sandbox,
    SandboxPhase,
    SandboxSpec,
)
from app.sandboxes.manifest import build_pod_manifest
from app.sandboxes.tenancy import belongs_to, tenant_of
from app.sandboxes.validation import image_repository, is_allowed_registry, validate_spec

BASE = SandboxSpec("busybox:1.36")
DIGEST = "sha256:" + "a" * 64
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def field_of_error(spec: SandboxSpec, settings: KubernetesSettings | None = None) -> str | None:
    with pytest.raises(BadUserInput) as caught:
        validate_spec(spec, settings or KubernetesSettings())
    return caught.value.field


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("busybox", "docker.io/library/busybox"),
        ("busybox:1.36", "docker.io/library/busybox"),
        (f"library/busybox@{DIGEST}", "docker.io/library/busybox"),
        ("index.docker.io/team/app", "docker.io/team/app"),
        ("ghcr.io/org/app:1", "ghcr.io/org/app"),
        (f"Registry.Example:5000/a/b:1@{DIGEST}", "registry.example:5000/a/b"),
        ("localhost/x", "localhost/x"),
    ],
)
def test_image_repository(image: str, repository: str) -> None:
    assert image_repository(image) == repository


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("busybox", True),  # docker.io/library
        ("docker.io/library/alpine:3", True),
        ("docker.io/someone/app", False),
        ("ghcr.io/org/app", True),
        ("ghcr.io/org/team/app", True),
        ("ghcr.io/organisation/app", False),  # whole components only
        ("ghcr.io/org", True),
        ("registry.example:5000/x", True),
        ("registry.example/x", False),  # another port is another registry
        ("evil.example/ghcr.io/org/app", False),
    ],
)
def test_registry_allowlist(image: str, allowed: bool) -> None:
    entries = ("docker.io/library", "ghcr.io/org", "registry.example:5000")
    assert is_allowed_registry(image, entries) is allowed
    settings = KubernetesSettings(allowed_image_registries=entries)
    spec = replace(BASE, image=image)
    if allowed:
        validate_spec(spec, settings)
    else:
        assert field_of_error(spec, settings) == "input.image"


def test_an_empty_allowlist_allows_any_registry() -> None:
    validate_spec(replace(BASE, image="anything.example/x"), KubernetesSettings())


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (replace(BASE, command=("sh", "a\x00")), "input.command[1]"),
        (replace(BASE, args=("\x00",)), "input.args[0]"),
        (replace(BASE, args=("\ud800",)), "input.args[0]"),
        (replace(BASE, env=(EnvVar("A", "ok"), EnvVar("B", "x\x00y"))), "input.env[1].value"),
        (replace(BASE, env=(EnvVar("A", "\udfff"),)), "input.env[0].value"),
    ],
)
def test_free_text_refuses_nul_and_lone_surrogates(spec: SandboxSpec, field: str) -> None:
    assert field_of_error(spec) == field


def test_free_text_may_hold_other_control_characters() -> None:
    validate_spec(
        replace(BASE, args=("line 1\nline 2\ttab\x1b[0m",), env=(EnvVar("A", "\r\n"),)),
        KubernetesSettings(),
    )


def test_the_tenant_becomes_a_label_that_users_cannot_set() -> None:
    settings = KubernetesSettings()
    pod = build_pod_manifest(
        replace(BASE, tenant="team-a"), settings, name="kata-sandbox-00000001", created_at=NOW
    )
    assert pod["metadata"]["labels"][TENANT_LABEL] == "team-a"
    untenanted = build_pod_manifest(BASE, settings, name="kata-sandbox-00000002", created_at=NOW)
    assert TENANT_LABEL not in untenanted["metadata"]["labels"]
    spoofed = replace(BASE, labels=(Label(TENANT_LABEL, "team-b"),))
    assert field_of_error(spoofed) == "input.labels[0].key"
    with pytest.raises(ValueError, match="tenant"):
        build_pod_manifest(
            replace(BASE, tenant="Not A Label"), settings, name="kata-sandbox-3", created_at=NOW
        )


def sandbox(name: str, tenant: str | None, *, terminating: bool = False) -> Sandbox:
    labels = (Label(TENANT_LABEL, tenant),) if tenant else ()
    return Sandbox(
        name, "ns", "busybox", SandboxPhase.RUNNING, NOW, labels=labels, terminating=terminating
    )


def test_tenancy_of_a_sandbox() -> None:
    assert tenant_of(sandbox("a", "t1")) == "t1"
    assert tenant_of(sandbox("b", None)) is None
    assert belongs_to(sandbox("a", "t1"), "t1")
    assert not belongs_to(sandbox("a", "t1"), "t2")
    assert not belongs_to(sandbox("b", None), "t1")
    assert belongs_to(sandbox("b", None), None)  # no scope: admins see everything


def test_sandbox_quota_counts_the_tenants_live_sandboxes() -> None:
    quotas = TenantQuotas(max_sandboxes=2, max_subscriptions=None)
    store = [sandbox("a", "t1"), sandbox("b", "t1", terminating=True), sandbox("c", "t2")]
    quotas.check_sandboxes("t1", store)  # one live sandbox of t1
    with pytest.raises(QuotaExceeded, match="t1"):
        quotas.check_sandboxes("t1", [*store, sandbox("d", "t1")])
    quotas.check_sandboxes(None, [sandbox(str(i), None) for i in range(10)])  # no tenant
    assert quotas.creation_lock("t1") is quotas.creation_lock("t1")
    TenantQuotas(max_sandboxes=None, max_subscriptions=None).check_sandboxes("t1", store * 10)


def test_subscription_quota_counts_open_subscriptions() -> None:
    quotas = TenantQuotas(max_sandboxes=None, max_subscriptions=2)
    with quotas.subscription("t1"), quotas.subscription("t1"):
        assert quotas.subscriptions("t1") == 2
        with pytest.raises(QuotaExceeded), quotas.subscription("t1"):
            pass
        with quotas.subscription("t2"):
            assert quotas.subscriptions("t2") == 1
    assert quotas.subscriptions("t1") == 0
    with quotas.subscription("t1"):
        assert quotas.subscriptions("t1") == 1
