"""Memory and CPU amounts in the units the API speaks: mebibytes and millicores.

Kubernetes quantities ("1Gi", "0.5", "1G") are parsed and formatted in ``app.kube.quantity``;
above the kube layer only these integers exist. ``None`` means "not set" (a spec that leaves
the default to the service, or a pod without that resource).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass


@dataclass(frozen=True, slots=True)
class ResourceAmounts:
    _: KW_ONLY
    memory_mi: int | None = None
    cpu_millicores: int | None = None


NO_AMOUNTS = ResourceAmounts()


@dataclass(frozen=True, slots=True)
class Resources:
    """What a running sandbox has: requests and limits, plus the RuntimeClass overhead.

    The overhead is the Kata VM's own cost (``spec.overhead``, copied from the RuntimeClass by
    admission); the scheduler and ResourceQuota count it on top of the container's requests.
    """

    requests: ResourceAmounts
    limits: ResourceAmounts
    _: KW_ONLY
    overhead: ResourceAmounts | None = None


@dataclass(frozen=True, slots=True)
class ResourceRequirements:
    """What a user asks for; unset amounts are filled from the service's defaults."""

    _: KW_ONLY
    requests: ResourceAmounts = NO_AMOUNTS
    limits: ResourceAmounts = NO_AMOUNTS


NO_REQUIREMENTS = ResourceRequirements()
