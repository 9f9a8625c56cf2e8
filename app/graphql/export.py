"""``python -m app.graphql.export [PATH] [--check]``: write the schema's SDL (``schema.graphql``).

``--check`` writes nothing and exits 1 when the file differs from the code's schema.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from strawberry.printer import print_schema

from app.graphql.schema import schema

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "schema.graphql"


def schema_sdl() -> str:
    return print_schema(schema) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.graphql.export")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on a change")
    args = parser.parse_args(argv)
    path: Path = args.path
    sdl = schema_sdl()
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != sdl:
            print(f"{path} is out of date; run: python -m app.graphql.export", file=sys.stderr)
            return 1
        return 0
    path.write_text(sdl, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
