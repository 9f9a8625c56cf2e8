"""API tokens: the file that lists them, and a store that re-reads it when it changes.

The file (``Server.ApiTokensPath``, or the ``API_TOKENS_PATH`` environment variable; in the
cluster the Secret ``kata-sandbox-api-tokens``, key ``tokens.json``) holds only SHA-256 hashes,
so reading it (or a backup of it) does not let anyone in::

    {
      "tokens": [
        {"id": "ci-team-a", "sha256": "<64 hex digits>", "tenant": "team-a", "role": "user"},
        {"id": "ops", "sha256": "<64 hex digits>", "tenant": "ops", "role": "admin"}
      ]
    }

``id`` names the token in logs (optional; default: the hash's first 12 digits), ``tenant`` is a
DNS-1123 label (it becomes a label value on the tenant's pods), ``role`` is admin, user or
viewer. Unknown keys are refused: a misspelt ``role`` must not silently become something else.
``python -m app.auth add-token`` writes entries; the token itself is printed once, never stored.

A presented token is checked by hashing it and looking the hash up: the time taken does not
depend on how much of a guess matches a real token (a byte-by-byte comparison of secrets would),
and a final ``hmac.compare_digest`` of the hashes keeps it so.

The store ``stat``s the file on each lookup (one syscall) and re-reads it when its inode, size
or modification time changed: a Secret update (kubelet swaps a symlink) or an edit takes effect
on the next request, without a restart. A file that is missing holds no tokens. A file that
cannot be parsed fails closed: no token is accepted until it is fixed, and the problem is logged
once per change of the file. (Keeping the previous tokens instead would keep a token alive that
the operator just tried to revoke.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.auth.principal import Principal, Role
from app.models.kubernetes_names import is_dns1123_label

log = logging.getLogger(__name__)

# Prefixed so secret scanners (and people) can tell what a leaked string is.
TOKEN_PREFIX = "ksa_"
TOKEN_BYTES = 32
# Longer presented tokens are refused before hashing; real ones are ~47 characters.
MAX_TOKEN_LENGTH = 512
MAX_ID_LENGTH = 63
_SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)
_ENTRY_KEYS = frozenset({"id", "sha256", "tenant", "role"})


class TokenFileError(ValueError):
    """The tokens file is not in the documented format; the message says where."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    sha256: str
    tenant: str
    role: Role

    def principal(self) -> Principal:
        return Principal(
            tenant=self.tenant, role=self.role, token_id=self.token_id, token_hash=self.sha256
        )


def hash_token(token: str) -> str:
    """The SHA-256 hex digest the file stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def generate_token() -> str:
    """A new random token: the prefix and 256 bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _entry(index: int, raw: Any) -> TokenRecord:
    where = f"tokens[{index}]"
    if not isinstance(raw, Mapping):
        raise TokenFileError(f"{where}: must be an object")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise TokenFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    digest = raw.get("sha256")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest.lower()):
        raise TokenFileError(f"{where}.sha256: must be 64 hex digits (the token's SHA-256)")
    tenant = raw.get("tenant")
    if not isinstance(tenant, str) or not is_dns1123_label(tenant):
        raise TokenFileError(
            f"{where}.tenant: must be a DNS-1123 label (lowercase letters, digits and '-', "
            "at most 63)"
        )
    role_name = raw.get("role")
    roles = [role.value for role in Role]
    if role_name not in roles:
        raise TokenFileError(f"{where}.role: must be one of {', '.join(roles)}")
    token_id = raw.get("id", digest.lower()[:12])
    if not isinstance(token_id, str) or not 0 < len(token_id) <= MAX_ID_LENGTH:
        raise TokenFileError(f"{where}.id: must be a string of 1 to {MAX_ID_LENGTH} characters")
    if not token_id.isprintable():
        raise TokenFileError(f"{where}.id: must not contain control characters")
    return TokenRecord(
        token_id=token_id, sha256=digest.lower(), tenant=tenant, role=Role(role_name)
    )


def parse_tokens(text: str) -> dict[str, TokenRecord]:
    """The records of a tokens file by hash; ``TokenFileError`` if it is malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenFileError(f"not valid JSON: {exc}") from None
    if not isinstance(data, Mapping) or set(data) - {"tokens"}:
        raise TokenFileError('must be a JSON object with one key, "tokens"')
    entries = data.get("tokens", [])
    if not isinstance(entries, list):
        raise TokenFileError('"tokens" must be a list')
    records: dict[str, TokenRecord] = {}
    ids: set[str] = set()
    for index, raw in enumerate(entries):
        record = _entry(index, raw)
        if record.sha256 in records:
            raise TokenFileError(f"tokens[{index}]: the same hash is listed twice")
        if record.token_id in ids:
            raise TokenFileError(f"tokens[{index}].id: {record.token_id!r} is listed twice")
        records[record.sha256] = record
        ids.add(record.token_id)
    return records


def dump_tokens(records: list[TokenRecord]) -> str:
    """The file's text for ``records`` (what the CLI writes)."""
    entries = [
        {"id": r.token_id, "sha256": r.sha256, "tenant": r.tenant, "role": r.role.value}
        for r in records
    ]
    return json.dumps({"tokens": entries}, indent=2) + "\n"


_Signature = tuple[int, int, int, int]


class TokenStore:
    """The tokens of one file, re-read when the file changes (see the module's docstring)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._signature: _Signature | None = None
        self._records: dict[str, TokenRecord] = {}
        self._problem: str | None = None
        self._loaded = False

    @property
    def problem(self) -> str | None:
        """Why no token is accepted at the moment, if that is the case (missing/bad file)."""
        self.refresh()
        return self._problem

    def __len__(self) -> int:
        self.refresh()
        return len(self._records)

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of a presented token, or None."""
        digest = hash_token(token)
        self.refresh()
        record = self._records.get(digest)
        if record is None or not hmac.compare_digest(record.sha256, digest):
            return None
        return record

    def record_for_hash(self, digest: str) -> TokenRecord | None:
        """The current record of a token known by its hash (to re-check a long-lived session)."""
        self.refresh()
        return self._records.get(digest)

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read."""
        if self.path is None:
            if not self._loaded:
                self._loaded = True
                self._problem = "no API tokens file is configured (Server.ApiTokensPath)"
            return
        try:
            stat = os.stat(self.path)
        except OSError:
            signature = None
        else:
            signature = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._loaded and signature == self._signature:
            return
        self._loaded = True
        self._signature = signature
        if signature is None:
            self._set({}, f"the API tokens file {str(self.path)!r} does not exist")
            log.warning("%s: every request is refused until it does", self._problem)
            return
        try:
            records = parse_tokens(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, TokenFileError) as exc:
            self._set({}, f"the API tokens file {str(self.path)!r} is invalid: {exc}")
            log.error("%s; every request is refused until it is fixed", self._problem)
            return
        self._set(records, None)
        log.info("loaded %d API token(s) from %s", len(records), self.path)

    def _set(self, records: dict[str, TokenRecord], problem: str | None) -> None:
        self._records = records
        self._problem = problem
