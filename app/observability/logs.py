"""Structured logs: one JSON object per line, with the request's ids, from every logger.

A line looks like::

    {"time": "2025-05-01T12:00:00.123Z", "level": "INFO", "logger": "uvicorn.access",
     "message": "127.0.0.1:50312 - \\"POST /graphql HTTP/1.1\\" 200", "request_id": "4f0c...",
     "client": "127.0.0.1:50312", "method": "POST", "path": "/graphql", "http_version": "1.1",
     "status": 200}

- ``request_id`` (and ``connection_id`` on a websocket's lines) come from
  ``app.observability.context``; every other ``extra=`` field of the call is a key of its own;
- uvicorn's access lines are split into ``client``, ``method``, ``path``, ``http_version``,
  ``status``; an exception is in ``exception`` (the traceback as one string).

Who configures: the app's lifespan calls :func:`configure_logging` with ``Server.LogLevel`` (the
``app`` loggers' level) and ``Server.LogFormat`` (``json``, or ``text`` for a terminal). When the
process's logging is still uvicorn's default (the root logger has no handler), it puts a handler
with this formatter on the root logger and gives uvicorn's own handlers (``uvicorn.error`` on
stderr, ``uvicorn.access`` on stdout) the same formatter. uvicorn's first lines ("Started server
process", "Waiting for application startup.") come before the lifespan and keep uvicorn's format;
for JSON from the very first line start uvicorn with ``--log-config`` and a file printed by
``python -m app.observability.logs`` (``dictConfig`` JSON; the lifespan then leaves logging as it
finds it). uvicorn's own level stays ``--log-level``'s; ``--no-access-log`` still works.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from app.observability.context import log_fields

APP_LOGGER = "app"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
FORMATS = ("json", "text")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """uvicorn.access logs ``'%s - "%s %s HTTP/%s" %d'`` with these five arguments."""
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple):
        return {}
    if len(record.args) != 5:
        return {}
    client, method, path, http_version, status = record.args
    return {
        "client": client,
        "method": method,
        "path": path,
        "http_version": http_version,
        "status": status,
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(log_fields())
        entry.update(_access_fields(record))
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For a terminal: ``time LEVEL logger [request id]: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = log_fields()
        # A copy: the record is shared with the other handlers.
        copy = logging.makeLogRecord(
            {**vars(record), "ids": f" [{' '.join(ids.values())}]" if ids else ""}
        )
        return super().format(copy)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; one of {', '.join(FORMATS)}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def _is_uvicorn_default(handler: logging.Handler) -> bool:
    return type(handler.formatter).__module__ == "uvicorn.logging"


def configure_logging(level: str, log_format: str = "json") -> bool:
    """Set the ``app`` loggers' level; format the process's logs unless someone else did.

    Returns whether the formatting was installed (False: logging was already configured, e.g.
    by ``--log-config`` or a test runner, and only the level was set).
    """
    chosen = formatter(log_format)  # checks the format even when it is not installed
    logging.getLogger(APP_LOGGER).setLevel(level)
    root = logging.getLogger()
    if root.handlers:
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(chosen)
    root.addHandler(handler)
    for name in UVICORN_LOGGERS:
        for existing in logging.getLogger(name).handlers:
            if _is_uvicorn_default(existing):
                existing.setFormatter(chosen)
    return True


def log_config(level: str = "INFO", log_format: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``uvicorn --log-config``: everything in one format,
    from the first line; uvicorn's access lines on stdout as uvicorn does, the rest on stderr."""
    factory = f"{__name__}.{'JsonFormatter' if log_format == 'json' else 'TextFormatter'}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": factory}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stderr",
            },
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            APP_LOGGER: {"level": level},
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.observability.logs",
        description="Print a dictConfig for `uvicorn --log-config FILE.json`.",
    )
    parser.add_argument("--level", default="INFO", help="level of the app loggers")
    parser.add_argument("--format", choices=FORMATS, default="json", dest="log_format")
    args = parser.parse_args(argv)
    print(json.dumps(log_config(args.level.upper(), args.log_format), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
