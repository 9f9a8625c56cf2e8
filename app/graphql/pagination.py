"""Cursor pagination over the stable order of sandboxes: creation time, then name.

A cursor encodes the sort key of the item it points at, not a position, so it stays valid when
sandboxes are created or deleted between pages: the next page starts after that key, whether or
not the item still exists. Cursors are opaque to clients (url-safe base64 of ``v1|time|name``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

import strawberry

from app import models
from app.graphql.inputs import check_range
from app.graphql.types import Sandbox
from app.kube.informer import OrderKey
from app.sandboxes.service import Page

_CURSOR_VERSION = "v1"


def encode_cursor(sandbox: models.Sandbox) -> str:
    raw = f"{_CURSOR_VERSION}|{sandbox.created_at.isoformat()}|{sandbox.name}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, *, field: str = "after") -> OrderKey:
    invalid = models.BadUserInput(
        "is not a cursor of this API (take one from pageInfo.endCursor or edges.cursor)",
        field=field,
    )
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
        version, created_at, name = raw.split("|", 2)
        when = datetime.fromisoformat(created_at)
    except (UnicodeError, binascii.Error, ValueError):
        raise invalid from None
    if version != _CURSOR_VERSION or when.tzinfo is None or not name:
        raise invalid
    return when, name


@strawberry.type(name="PageInfo")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    start_cursor: str | None


@strawberry.type(name="SandboxEdge")
class SandboxEdge:
    cursor: str
    node: Sandbox


@strawberry.type(name="SandboxConnection")
class SandboxConnection:
    edges: list[SandboxEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many sandboxes match, on all pages.")


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: OrderKey | None

    @classmethod
    def parse(
        cls, first: int | None, after: str | None, *, default_size: int, max_size: int
    ) -> PageRequest:
        size = default_size if first is None else first
        check_range(size, "first", minimum=0, maximum=max_size)
        return cls(first=size, after=decode_cursor(after) if after else None)


def connection(page: Page) -> SandboxConnection:
    edges = [
        SandboxEdge(cursor=encode_cursor(sandbox), node=Sandbox.from_domain(sandbox))
        for sandbox in page.sandboxes
    ]
    return SandboxConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            end_cursor=edges[-1].cursor if edges else None,
            start_cursor=edges[0].cursor if edges else None,
        ),
        total_count=page.total,
    )
