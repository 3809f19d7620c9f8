"""Structured JSON logs: one object per line, each carrying the request's correlation id.

Nothing here logs headers or bodies: secrets, signatures and tokens never reach a log line.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from croupier.services import context as call_context

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = call_context.current()
        if ctx.correlation_id:
            data["correlation_id"] = ctx.correlation_id
        if ctx.session_id:
            data["session_id"] = ctx.session_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record, not at set-up."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for Croupier's own loggers and the server's (uvicorn).

    Only these loggers are set up, not the root logger: a library's chatter (alembic's
    migration notes) stays out of the service's log stream.
    """
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("croupier", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # the API writes its own access line
