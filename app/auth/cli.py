"""``python -m app.auth``: manage the API tokens file.

    python -m app.auth add-token --tenant team-a --role user --file tokens.json [--id ci-a]
    python -m app.auth list-tokens --file tokens.json
    python -m app.auth remove-token --id ci-a --file tokens.json

``add-token`` prints the new token once, on standard output (and nothing else there, so
``TOKEN=$(python -m app.auth add-token ...)`` works); the file keeps only its SHA-256. A lost
token cannot be recovered: remove it and add another. The file is written atomically (a new file
renamed over the old) and readable by its owner only; put it into the cluster with::

    kubectl -n kata-sandbox-system create secret generic kata-sandbox-api-tokens \\
      --from-file=tokens.json=tokens.json --dry-run=client -o yaml | kubectl apply -f -

The running service picks the change up without a restart (``app.auth.tokens``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from app.auth.principal import Role
from app.auth.tokens import (
    MAX_ID_LENGTH,
    TokenFileError,
    TokenRecord,
    dump_tokens,
    generate_token,
    hash_token,
    parse_tokens,
)
from app.models.kubernetes_names import is_dns1123_label


def _read(path: Path) -> list[TokenRecord]:
    if not path.exists():
        return []
    return list(parse_tokens(path.read_text(encoding="utf-8")).values())


def _write(path: Path, records: list[TokenRecord]) -> None:
    directory = path.resolve().parent
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(dump_tokens(records))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _add(args: argparse.Namespace) -> int:
    if not is_dns1123_label(args.tenant):
        raise TokenFileError(f"tenant {args.tenant!r} is not a DNS-1123 label")
    records = _read(args.file)
    token = generate_token()
    digest = hash_token(token)
    token_id = args.id or f"{args.tenant}-{args.role}-{digest[:8]}"
    if not 0 < len(token_id) <= MAX_ID_LENGTH or not token_id.isprintable():
        raise TokenFileError(f"id must be 1 to {MAX_ID_LENGTH} printable characters")
    if any(r.token_id == token_id for r in records):
        raise TokenFileError(f"a token with id {token_id!r} is already listed")
    records.append(
        TokenRecord(token_id=token_id, sha256=digest, tenant=args.tenant, role=Role(args.role))
    )
    _write(args.file, records)
    print(token)
    print(
        f"added token {token_id!r} ({args.role} of tenant {args.tenant}) to {args.file}; "
        "the token is shown only this once",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    for record in _read(args.file):
        print(f"{record.token_id}\t{record.tenant}\t{record.role.value}\t{record.sha256[:12]}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    records = _read(args.file)
    kept = [r for r in records if r.token_id != args.id]
    if len(kept) == len(records):
        raise TokenFileError(f"no token with id {args.id!r} in {args.file}")
    _write(args.file, kept)
    print(f"removed token {args.id!r} from {args.file}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.auth", description="Manage API tokens.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-token", help="mint a token; print it once, store its hash")
    add.add_argument("--tenant", required=True, help="a DNS-1123 label, e.g. team-a")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--id", help="a name for logs (default: tenant-role-<hash prefix>)")
    add.set_defaults(func=_add)
    listing = commands.add_parser("list-tokens", help="ids, tenants and roles (no secrets)")
    listing.set_defaults(func=_list)
    remove = commands.add_parser("remove-token", help="revoke a token by its id")
    remove.add_argument("--id", required=True)
    remove.set_defaults(func=_remove)
    for command in (add, listing, remove):
        command.add_argument("--file", type=Path, required=True, help="the tokens file")
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except (TokenFileError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result
