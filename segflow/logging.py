"""structlog, configured once per process.

Context (store_id, customer, flow_id, node_id, event_id, partition, offset) is bound with
`structlog.contextvars.bound_contextvars` around each unit of work and merged into every line.
Anything that looks like a secret is masked before rendering, whatever the caller passed.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

from segflow.config import LogFormat

_SECRET_KEYS = frozenset({"api_key", "klaviyo_api_key", "password", "authorization", "key_value", "secret"})
MASK = "***"


def mask_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never let a secret reach a log line, even if a caller binds one by mistake."""
    for key in event_dict:
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = MASK
    return event_dict


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Looked up per logger, not once: sys.stderr may be replaced (tests capture it, daemons redirect it)."""
    return structlog.PrintLogger(sys.stderr)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is when a record arrives (see _stderr_logger)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    renderer: structlog.typing.Processor
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_secrets,
    ]
    # What libraries log through the standard library (psycopg, kafka-python) is rendered the
    # same way, so in JSON mode every line on stderr is JSON.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [handler]
    root.setLevel(logging.WARNING)
    if log_format == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    """A bug that ends the process: its traceback as a JSON field, not as lines of text."""
    structlog.get_logger().error("uncaught_exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    thread = args.thread.name if args.thread is not None else None
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    structlog.get_logger().error("thread_crashed", thread=thread, exc_info=exc_info)
