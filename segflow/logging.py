"""structlog, configured once per process.

Context (store_id, customer, flow_id, node_id, event_id, partition, offset) is bound with
`structlog.contextvars.bound_contextvars` around each unit of work and merged into every line.
Anything that looks like a secret is masked before rendering, whatever the caller passed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
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


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    renderer: structlog.typing.Processor
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
