"""structlog, configured once per process.

Context (store_id, customer, flow_id, node_id, event_id, partition, offset) is bound with
`structlog.contextvars.bound_contextvars` around each unit of work and merged into every line.
Anything that looks like a secret is masked before rendering, whatever the caller passed.

structlog (with what it loads to render, ~0.1 s) is configured the moment something imports
it, not before: a command that never logs (`segments list`) never loads it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, MutableMapping, Sequence
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from segflow.infra.config import LogFormat

if TYPE_CHECKING:
    import structlog

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
    import structlog

    return structlog.PrintLogger(sys.stderr)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is when a record arrives (see _stderr_logger), rendered as
    structlog renders its own lines; the renderer is made at the first record."""

    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        self.log_format = log_format

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.formatter is None:
                self.setFormatter(_library_formatter(self.log_format))
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    # What libraries log through the standard library (psycopg, kafka-python) is rendered the
    # same way, so in JSON mode every line on stderr is JSON.
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [_StderrHandler(log_format)]
    root.setLevel(logging.WARNING)
    if log_format == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    if "structlog" in sys.modules:
        _configure_structlog(log_format, level)
    else:
        _AfterImport.install("structlog", lambda: _configure_structlog(log_format, level))


def _processors(log_format: LogFormat) -> tuple[list[structlog.typing.Processor], structlog.typing.Processor]:
    """(what every line goes through first, the renderer)."""
    import structlog

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
    return shared, renderer


def _configure_structlog(log_format: LogFormat, level: int) -> None:
    import structlog

    shared, renderer = _processors(log_format)
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


def _library_formatter(log_format: LogFormat) -> logging.Formatter:
    import structlog

    shared, renderer = _processors(log_format)
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
    )


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs `then` right after the module `name` is first imported, by whoever imports it."""

    def __init__(self, name: str, then: Callable[[], None]) -> None:
        self.name = name
        self.then = then
        self.spec: importlib.machinery.ModuleSpec | None = None

    @classmethod
    def install(cls, name: str, then: Callable[[], None]) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not (isinstance(f, cls) and f.name == name)]
        sys.meta_path.insert(0, cls(name, then))

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # found by the other finders from here on
        self.spec = importlib.util.find_spec(fullname)
        if self.spec is None or self.spec.loader is None:
            return self.spec
        wrapped = importlib.util.spec_from_loader(fullname, self, origin=self.spec.origin, is_package=True)
        assert wrapped is not None
        wrapped.submodule_search_locations = self.spec.submodule_search_locations
        wrapped.has_location = self.spec.has_location
        return wrapped

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        assert self.spec is not None and self.spec.loader is not None
        return self.spec.loader.create_module(self.spec)

    def exec_module(self, module: ModuleType) -> None:
        assert self.spec is not None and self.spec.loader is not None
        module.__spec__ = self.spec
        module.__loader__ = self.spec.loader
        self.spec.loader.exec_module(module)
        self.then()


def _log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    """A bug that ends the process: its traceback as a JSON field, not as lines of text."""
    import structlog

    structlog.get_logger().error("uncaught_exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    import structlog

    thread = args.thread.name if args.thread is not None else None
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    structlog.get_logger().error("thread_crashed", thread=thread, exc_info=exc_info)
