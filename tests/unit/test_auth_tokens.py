"""The tokens file, the store that re-reads it, and Bearer credentials."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from app.auth import (
    AUTH_DISABLED_PRINCIPAL,
    Authenticator,
    Principal,
    Role,
    TokenFileError,
    TokenStore,
    generate_token,
    hash_token,
)
from app.auth.authenticator import authorization_param, bearer_token
from app.auth.tokens import parse_tokens
from app.config import ServerSettings
from app.models import Unauthenticated

TOKEN = "ksa_example-token"
DIGEST = hash_token(TOKEN)


def entry(**overrides: Any) -> dict[str, Any]:
    return {"id": "ci", "sha256": DIGEST, "tenant": "team-a", "role": "user", **overrides}


def write(path: Path, *entries: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"tokens": list(entries)}))
    os.replace(temporary, path)  # a new inode, as a Secret update makes


def test_hash_and_generate() -> None:
    assert len(DIGEST) == 64
    assert hash_token("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    token = generate_token()
    assert token.startswith("ksa_")
    assert len(token) >= 40
    assert token != generate_token()


def test_parse_a_valid_file() -> None:
    records = parse_tokens(
        json.dumps({"tokens": [entry(), entry(id="v", sha256="A" * 64, role="viewer")]})
    )
    assert records[DIGEST].principal() == Principal(
        tenant="team-a", role=Role.USER, token_id="ci", token_hash=DIGEST
    )
    assert records["a" * 64].role is Role.VIEWER  # hashes are normalised to lower case
    assert parse_tokens('{"tokens": []}') == {}
    # The id defaults to the hash's start.
    (record,) = parse_tokens(json.dumps({"tokens": [{**entry(), "id": "x"}]})).values()
    assert record.token_id == "x"
    without_id = {k: v for k, v in entry().items() if k != "id"}
    (record,) = parse_tokens(json.dumps({"tokens": [without_id]})).values()
    assert record.token_id == DIGEST[:12]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("not json", "not valid JSON"),
        ("[]", '"tokens"'),
        ('{"tokens": {}}', '"tokens" must be a list'),
        ('{"tokens": [], "extra": 1}', '"tokens"'),
        (json.dumps({"tokens": ["x"]}), "tokens[0]: must be an object"),
        (json.dumps({"tokens": [entry(sha256="abc")]}), "tokens[0].sha256"),
        (json.dumps({"tokens": [entry(sha256=TOKEN)]}), "tokens[0].sha256"),
        (json.dumps({"tokens": [entry(tenant="Team A")]}), "tokens[0].tenant"),
        (json.dumps({"tokens": [entry(tenant="x" * 64)]}), "tokens[0].tenant"),
        (json.dumps({"tokens": [entry(role="root")]}), "tokens[0].role"),
        (json.dumps({"tokens": [entry(role=None)]}), "tokens[0].role"),
        (json.dumps({"tokens": [entry(id="")]}), "tokens[0].id"),
        (json.dumps({"tokens": [entry(id="a\nb")]}), "tokens[0].id"),
        (json.dumps({"tokens": [entry(expires="2030")]}), "unknown key(s) expires"),
        (json.dumps({"tokens": [entry(), entry(id="other")]}), "tokens[1]: the same hash"),
        (json.dumps({"tokens": [entry(), entry(sha256="b" * 64)]}), "tokens[1].id"),
    ],
)
def test_malformed_files_are_refused_saying_where(text: str, where: str) -> None:
    with pytest.raises(TokenFileError) as refused:
        parse_tokens(text)
    assert where in str(refused.value)


def test_the_store_rereads_the_file_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    assert store.lookup(TOKEN) is None
    assert store.problem is not None
    assert "does not exist" in store.problem
    write(path, entry())
    record = store.lookup(TOKEN)
    assert record is not None
    assert record.tenant == "team-a"
    assert store.lookup(TOKEN + "x") is None
    write(path, entry(role="admin"))
    record = store.lookup(TOKEN)
    assert record is not None
    assert record.role is Role.ADMIN
    write(path)
    assert store.lookup(TOKEN) is None
    assert store.problem is None


def test_an_edit_in_place_is_seen_too(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": []}))
    store = TokenStore(path)
    assert len(store) == 0
    path.write_text(json.dumps({"tokens": [entry()]}))  # same inode, new size and mtime
    assert len(store) == 1


def test_a_broken_file_fails_closed_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    write(path, entry())
    store = TokenStore(path)
    assert store.lookup(TOKEN) is not None
    with caplog.at_level(logging.ERROR, logger="app.auth.tokens"):
        temporary = path.with_suffix(".tmp")
        temporary.write_text('{"tokens": [')
        os.replace(temporary, path)
        for _ in range(3):
            assert store.lookup(TOKEN) is None
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert store.problem is not None
    assert "invalid" in store.problem
    write(path, entry())
    assert store.lookup(TOKEN) is not None


def test_a_store_without_a_path_holds_nothing() -> None:
    store = TokenStore(None)
    assert store.lookup(TOKEN) is None
    assert store.problem is not None


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
        (f"BEARER   {TOKEN}  ", TOKEN),
    ],
)
def test_bearer_tokens(value: str, token: str) -> None:
    assert bearer_token(value) == token


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "Bearer", "Bearer ", "Basic abc", TOKEN, "Bearer x\x00y", "Bearer é"],
)
def test_not_bearer_tokens(value: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(value)


def test_authorization_param_in_any_case() -> None:
    assert authorization_param(None) is None
    assert authorization_param({}) is None
    assert authorization_param({"other": "x"}) is None
    for key in ("Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"):
        assert authorization_param({key: "Bearer t"}) == "Bearer t"
    with pytest.raises(Unauthenticated):
        authorization_param({"Authorization": ["Bearer t"]})


def test_the_authenticator(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    write(path, entry())
    authenticator = Authenticator.from_settings(ServerSettings(api_tokens_path=path))
    principal = authenticator.authenticate(f"Bearer {TOKEN}")
    assert (principal.tenant, principal.role, principal.token_id) == ("team-a", Role.USER, "ci")
    assert principal.can_write
    assert not principal.sees_all
    assert principal.scope == "team-a"
    for bad in (None, "Bearer nope", f"Basic {TOKEN}"):
        with pytest.raises(Unauthenticated):
            authenticator.authenticate(bad)
    # A session re-checked after the file changed: a new role, then revoked.
    write(path, entry(role="viewer"))
    assert authenticator.revalidate(principal).role is Role.VIEWER
    write(path)
    with pytest.raises(Unauthenticated):
        authenticator.revalidate(principal)
    with pytest.raises(Unauthenticated):
        authenticator.revalidate(AUTH_DISABLED_PRINCIPAL)


def test_auth_disabled_lets_everyone_in_as_an_admin_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        authenticator = Authenticator.from_settings(ServerSettings(auth_disabled=True))
    assert any("DISABLED" in r.getMessage() for r in caplog.records)
    assert authenticator.authenticate(None) is AUTH_DISABLED_PRINCIPAL
    assert AUTH_DISABLED_PRINCIPAL.sees_all
    assert AUTH_DISABLED_PRINCIPAL.scope is None
    assert authenticator.revalidate(AUTH_DISABLED_PRINCIPAL) is AUTH_DISABLED_PRINCIPAL


def test_roles() -> None:
    def principal(role: Role) -> Principal:
        return Principal(tenant="t", role=role, token_id="x")

    assert principal(Role.ADMIN).sees_all
    assert principal(Role.ADMIN).scope is None
    assert principal(Role.USER).can_write
    assert principal(Role.USER).scope == "t"
    assert not principal(Role.VIEWER).can_write
    assert principal(Role.VIEWER).scope == "t"
    assert "viewer of tenant t" in str(principal(Role.VIEWER))
