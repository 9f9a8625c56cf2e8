"""``python -m app.auth``: mint tokens, store only their hashes, list and revoke them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.auth import hash_token
from app.auth.cli import main
from app.auth.tokens import parse_tokens


def test_add_token_prints_the_token_once_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.json"
    assert main(["add-token", "--tenant", "team-a", "--role", "user", "--file", str(path)]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n"  # nothing else on stdout: TOKEN=$(python -m app.auth ...) works
    assert "shown only this once" in err
    text = path.read_text()
    assert token not in text
    (record,) = parse_tokens(text).values()
    assert record.sha256 == hash_token(token)
    assert (record.tenant, record.role.value) == ("team-a", "user")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert (
        main(
            [
                "add-token",
                "--tenant",
                "ops",
                "--role",
                "admin",
                "--id",
                "ops-1",
                "--file",
                str(path),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert len(parse_tokens(path.read_text())) == 2
    assert main(["list-tokens", "--file", str(path)]) == 0
    listing = capsys.readouterr().out
    assert "ops-1\tops\tadmin" in listing
    assert token not in listing
    assert main(["remove-token", "--id", "ops-1", "--file", str(path)]) == 0
    assert len(parse_tokens(path.read_text())) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["add-token", "--tenant", "Team A", "--role", "user"],
        ["add-token", "--tenant", "t", "--role", "user", "--id", "a\nb"],
        ["remove-token", "--id", "nope"],
    ],
)
def test_refusals_exit_2_and_leave_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": []}))
    assert main([*argv, "--file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error:")
    assert json.loads(path.read_text()) == {"tokens": []}


def test_a_broken_file_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{broken")
    assert main(["add-token", "--tenant", "t", "--role", "viewer", "--file", str(path)]) == 2
    assert path.read_text() == "{broken"
    assert "not valid JSON" in capsys.readouterr().err


def test_duplicate_ids_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.json"
    argv = ["add-token", "--tenant", "t", "--role", "user", "--id", "same", "--file", str(path)]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "already listed" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.auth",
            "add-token",
            "--tenant",
            "t",
            "--role",
            "viewer",
            "--file",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip().startswith("ksa_")
    assert hash_token(result.stdout.strip()) in path.read_text()
