"""Idempotent create: the same key and spec give the same sandbox, across retries and replicas.

The state lives on the pods, never in a replica's memory, so it survives restarts and is shared
by every replica:

- the label ``kata-sandbox-api/idempotency-key-hash`` holds a hash of the key (labels are
  selectable, but a label value is at most 63 characters of ``[A-Za-z0-9_.-]``, so the key itself
  cannot be one); the annotation ``kata-sandbox-api/idempotency-key`` keeps the key as given;
- the annotation ``kata-sandbox-api/spec-hash`` holds a hash of the spec it was created with.

A create with a key first looks in the informer's store for a pod with that key's label. That
alone leaves a race: two creates (on one replica or two) that both find nothing. So the pod
*name* is derived from the key too, and the apiserver, which stores at most one object per name,
arbitrates: the second POST gets 409 AlreadyExists, reads the pod that won and returns it. If a
name is already taken by a pod of another key (a hash collision of the 8 hex digits, or a random
name that happens to match), the next name in the key's own fixed sequence is tried, which every
racer for that key tries in the same order.

The same key with a *different* spec is refused with CONFLICT rather than silently returning a
sandbox unlike the one asked for. What counts is what shapes the pod: everything but the ready
timeout (how long this request waits) and the key itself; label order does not matter.

A key is bound to its sandbox while that exists: once it is deleted (and gone), the key is free.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from app.kube.ownership import IDEMPOTENCY_KEY_HASH_LABEL, SPEC_HASH_ANNOTATION
from app.models import Conflict, Sandbox, SandboxSpec

MAX_KEY_LENGTH = 256
KEY_HASH_LENGTH = 40  # hex digits: 160 bits, well inside a label value's 63 characters
NAME_HASH_LENGTH = 8  # the 8 hex digits of a pod name ({prefix}-{8 hex})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key_hash(key: str) -> str:
    return _digest(f"idempotency-key\0{key}")[:KEY_HASH_LENGTH]


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot hash {type(value).__name__}")


def spec_hash(spec: SandboxSpec) -> str:
    """A hash of what shapes the pod: the spec less its ready timeout and key."""
    fields = dataclasses.asdict(spec)
    fields.pop("ready_timeout_seconds")
    fields.pop("idempotency_key")
    fields["labels"] = sorted((label["key"], label["value"]) for label in fields["labels"])
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return _digest(canonical)


def candidate_names(prefix: str, key: str, count: int) -> list[str]:
    """The key's own sequence of pod names: the same on every replica, every time."""
    digests = (_digest(f"pod-name\0{key}\0{index}") for index in range(count))
    return [f"{prefix}-{digest[:NAME_HASH_LENGTH]}" for digest in digests]


def holds_key(sandbox: Sandbox, key: str) -> bool:
    if sandbox.idempotency_key is not None:
        return sandbox.idempotency_key == key
    return sandbox.labels_as_dict().get(IDEMPOTENCY_KEY_HASH_LABEL) == key_hash(key)


def find_by_key(sandboxes: Iterable[Sandbox], key: str) -> Sandbox | None:
    """The existing sandbox created with ``key``, oldest first should there be several."""
    wanted = key_hash(key)
    matches = [
        s
        for s in sandboxes
        if s.labels_as_dict().get(IDEMPOTENCY_KEY_HASH_LABEL) == wanted and holds_key(s, key)
    ]
    return min(matches, key=lambda s: (s.created_at, s.name)) if matches else None


def replay(existing: Sandbox, spec: SandboxSpec) -> Sandbox:
    """``existing`` if it was created from the same spec; else CONFLICT."""
    recorded = {a.key: a.value for a in existing.annotations}.get(SPEC_HASH_ANNOTATION)
    if recorded != spec_hash(spec):
        raise Conflict(
            f"idempotency key {spec.idempotency_key!r} was already used for sandbox "
            f"{existing.name!r} with a different spec; use a new key for a different sandbox"
        )
    return existing
