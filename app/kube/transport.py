"""Raw JSON requests to the apiserver, with retries for what is worth retrying.

kubernetes_asyncio's generated methods turn every answer into model objects, which drop fields
they do not know and cost a deserialisation pass per object; the informer handles every pod
change, so here answers stay JSON and :mod:`app.kube.convert` turns them into domain values.
Authentication still goes through the ApiClient (``auth_settings``), so a rotated in-cluster
token is picked up.

Retries: a 429 (API Priority and Fairness throttling us) or a 5xx/connection failure is retried
with exponential backoff and full jitter, waiting at least as long as the server's Retry-After.
Everything else is final and mapped by :mod:`app.kube.errors`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient

from app.kube.errors import ApiRateLimited, TransientApiError, as_rate_limited, error_from_response

Query = Sequence[tuple[str, str | int | bool]]
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        if retry_after is not None:
            return max(backoff, min(retry_after, self.max_retry_after))
        return backoff


class KubeTransport:
    def __init__(self, api: ApiClient, *, retry: RetryPolicy | None = None) -> None:
        self.api = api
        self.retry = retry or RetryPolicy()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None,
        body: Mapping[str, Any] | None,
        timeout: float | aiohttp.ClientTimeout | None,
        content_type: str | None = None,
    ) -> aiohttp.ClientResponse:
        headers = dict(_JSON_HEADERS)
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            response: aiohttp.ClientResponse = await self.api.call_api(
                path,
                method,
                query_params=[(key, _query_value(value)) for key, value in query or ()],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise TransientApiError("the Kubernetes API is unreachable") from error
        return response

    async def open(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: Query | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float | aiohttp.ClientTimeout | None = 30.0,
        retry: bool = True,
        content_type: str | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request and return the successful response unread (for streams).

        ``content_type`` overrides application/json, e.g. ``application/merge-patch+json`` for
        a PATCH (the apiserver refuses a PATCH sent as plain JSON with 415).
        """
        attempts = self.retry.attempts if retry else 1
        for attempt in range(attempts):
            try:
                response = await self._send(
                    method, path, query=query, body=body, timeout=timeout, content_type=content_type
                )
                if 200 <= response.status < 300:
                    return response
                async with response:
                    raw = await response.read()
                raise error_from_response(
                    response.status, raw, headers=response.headers, action=action
                )
            except TransientApiError as error:
                if attempt + 1 >= attempts:
                    if isinstance(error, ApiRateLimited):
                        raise as_rate_limited(error) from error
                    raise
                await asyncio.sleep(self.retry.delay(attempt, error.retry_after_seconds))
        raise AssertionError("unreachable")

    async def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: Query | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        retry: bool = True,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """Send a request and return its JSON body."""
        response = await self.open(
            method,
            path,
            action=action,
            query=query,
            body=body,
            timeout=timeout,
            retry=retry,
            content_type=content_type,
        )
        async with response:
            raw = await response.read()
        decoded = json.loads(raw) if raw else {}
        return decoded if isinstance(decoded, dict) else {}

    async def request_text(
        self, path: str, *, action: str, query: Query | None = None, timeout: float = 30.0
    ) -> str:
        response = await self.open("GET", path, action=action, query=query, timeout=timeout)
        async with response:
            return await response.text(errors="replace")


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
