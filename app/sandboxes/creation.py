"""Creating a sandbox's pod: names, safe retries, idempotency keys and the creation rate limit.

Every attempt carries a random request token annotation. When a POST answers 409 AlreadyExists,
the pod of that name is read:

- it carries our token: an earlier attempt of this very request succeeded (its answer was lost
  to a retry), so that pod is the result;
- the request has an idempotency key and the pod holds the same key: another request (perhaps on
  another replica) with that key won the race for the key's name; it is the result if it was
  created from the same spec, else CONFLICT (``app.sandboxes.idempotency``);
- otherwise the name belongs to someone else: the next name is tried, a bounded number of times.

Without a key, names are random (``{prefix}-{8 hex}``); with one, they follow the key's fixed
sequence. A key already in the informer's store is answered from there, without a request and
without counting against the rate limit (``app.sandboxes.rate_limit``), which every new pod does.
The result is returned once the store has it, so a read right after sees it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import datetime

from app.config import KubernetesSettings
from app.kube.errors import AlreadyExists
from app.kube.informer import PodInformer
from app.kube.ownership import SERVICE_KEY_PREFIX
from app.kube.pods import PodRepository
from app.models import Conflict, NotFound, Sandbox, SandboxSpec
from app.sandboxes.idempotency import candidate_names, find_by_key, holds_key, replay
from app.sandboxes.manifest import build_pod_manifest
from app.sandboxes.rate_limit import CreationRateLimiter
from app.sandboxes.tenancy import tenant_of
from app.sandboxes.validation import validate_spec

REQUEST_TOKEN_ANNOTATION = f"{SERVICE_KEY_PREFIX}/request-token"
CREATE_ATTEMPTS = 5
# How long a create waits for its pod to show up in the store.
STORE_CATCH_UP_SECONDS = 10.0


class PodCreator:
    def __init__(
        self,
        repository: PodRepository,
        informer: PodInformer,
        settings: KubernetesSettings,
        *,
        name_factory: Callable[[str], str],
        clock: Callable[[], datetime],
        limiter: CreationRateLimiter,
    ) -> None:
        self.repository = repository
        self.informer = informer
        self.settings = settings
        self.name_factory = name_factory
        self.clock = clock
        self.limiter = limiter

    def _names(self, key: str | None) -> Iterator[str]:
        prefix = self.settings.pod_name_prefix
        if key is not None:
            yield from candidate_names(prefix, key, CREATE_ATTEMPTS)
            return
        for _ in range(CREATE_ATTEMPTS):
            yield self.name_factory(prefix)

    async def create(self, spec: SandboxSpec) -> Sandbox:
        validate_spec(spec, self.settings)
        key = spec.idempotency_key
        if key is not None:
            # Keys are per tenant: another tenant's sandbox is never an answer (nor a CONFLICT).
            own = [s for s in self.informer.sandboxes() if tenant_of(s) == spec.tenant]
            existing = find_by_key(own, key)
            if existing is not None:
                return replay(existing, spec)
        token = secrets.token_hex(16)
        for name in self._names(key):
            manifest = build_pod_manifest(spec, self.settings, name=name, created_at=self.clock())
            manifest["metadata"]["annotations"][REQUEST_TOKEN_ANNOTATION] = token
            # Counted as a creation from the check until its pod is in the store.
            with self.limiter.reserve(self.informer.sandboxes(), name):
                try:
                    created = await self.repository.create(manifest)
                except AlreadyExists:
                    existing = await self._read(name)
                    if existing is None:
                        continue
                    if _token(existing) == token:
                        created = existing
                    elif (
                        key is not None
                        and holds_key(existing, key)
                        and tenant_of(existing) == spec.tenant
                    ):
                        return replay(existing, spec)
                    else:
                        continue
                await self._stored(name)
            return self.informer.get(name) or created
        raise Conflict(f"could not find a free pod name in {CREATE_ATTEMPTS} attempts")

    async def _stored(self, name: str) -> None:
        await self.informer.wait_until(
            lambda: self.informer.get(name) is not None, timeout=STORE_CATCH_UP_SECONDS
        )

    async def _read(self, name: str) -> Sandbox | None:
        try:
            return await self.repository.get(name)
        except NotFound:
            return None


def _token(sandbox: Sandbox) -> str | None:
    return {a.key: a.value for a in sandbox.annotations}.get(REQUEST_TOKEN_ANNOTATION)
