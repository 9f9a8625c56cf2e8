"""Over a thousand hostile requests through the real endpoint: nothing created, nothing internal.

The requests (``tests.security.fuzz_inputs``) are sent as a user and a viewer of a fresh tenant,
with no token and with a forged one. Every answer must be a GraphQL-shaped body whose errors all
carry a code from the README's table (INTERNAL excluded: that would be a bug), and no pod may
appear in the namespace.

Hypothesis runs derandomized with a fixed number of examples, so CI runs the same inputs every
time in well under a minute; ``FUZZ_EXAMPLES=20000`` explores more locally. It runs in a worker
thread with a blocking HTTP client, because the server shares this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_asyncio.client import ApiClient

from app.sandboxes.tenancy import tenant_of
from tests.graphql.conftest import RunningServer
from tests.graphql.helpers import CREATE
from tests.security.conftest import Callers, pod_uids
from tests.security.fuzz_inputs import Request, requests

Json = dict[str, Any]

MIN_REQUESTS = 1000
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1100"))
README = Path(__file__).resolve().parents[2] / "README.md"


def documented_codes() -> set[str]:
    """The codes of the README's error table."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Errors") + 1 :]
    section = section.split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE))


def _check(response: httpx.Response, request: Request, codes: set[str]) -> list[str]:
    assert response.status_code in (200, 401, 413), (response.status_code, response.text[:300])
    body: Json = response.json()
    errors = body.get("errors") or []
    found = []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert code in codes, (code, error, request)
        assert code != "INTERNAL", (error, request)
        found.append(str(code))
    if request[0] == CREATE:
        assert errors, ("a hostile create was accepted", request, body)
        assert not (body.get("data") or {}).get("createSandbox"), (request, body)
    return found


async def test_hostile_inputs_create_nothing_and_fail_cleanly(
    secure_server: RunningServer, callers: Callers, admin_api: ApiClient
) -> None:
    codes = documented_codes()
    assert {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "INTERNAL"} <= codes
    user = callers.new("user")
    viewer = callers.new("viewer", tenant=user.tenant)
    tokens = {"user": user.token, "viewer": viewer.token, "forged": "ksa_" + "A" * 43}
    before = await pod_uids(admin_api)
    seen: Counter[str] = Counter()
    sent = 0

    def fuzz() -> None:
        with httpx.Client(base_url=secure_server.url, timeout=30) as http:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(
                request=requests(),
                who=st.sampled_from(["user", "user", "user", "viewer", "anonymous", "forged"]),
            )
            def one(request: Request, who: str) -> None:
                nonlocal sent
                query, variables = request
                headers = {"Content-Type": "application/json"}
                if who in tokens:
                    headers["Authorization"] = f"Bearer {tokens[who]}"
                # json.dumps escapes lone surrogates, which the server then decodes back.
                content = json.dumps({"query": query, "variables": variables}).encode()
                response = http.post("/graphql", content=content, headers=headers)
                sent += 1
                seen.update(_check(response, request, codes) or ["(no error)"])

            one()

    await asyncio.to_thread(fuzz)
    assert sent >= MIN_REQUESTS, sent
    assert await pod_uids(admin_api) <= before, "a hostile request created a pod"
    store = secure_server.backend.informer.sandboxes()
    assert not [s.name for s in store if tenant_of(s) == user.tenant]
    # The inputs reach past the gate and the parser: validation and scoping answer many of them.
    assert seen["BAD_USER_INPUT"] > 300, seen
    assert seen["UNAUTHENTICATED"] > 50, seen
    assert seen["FORBIDDEN"] > 10, seen
