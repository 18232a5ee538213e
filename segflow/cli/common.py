"""What every command shares: the app context, `--json`, and printing reports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from segflow.errors import InvalidInput
from segflow.infra.config import Config
from segflow.infra.database import Conn, connect

if TYPE_CHECKING:
    from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


class AppContext:
    def __init__(self, config: Config) -> None:
        self.config = config

    @contextmanager
    def db(self) -> Iterator[Conn]:
        with connect(self.config) as conn:
            yield conn

    def close(self) -> None:
        """Nothing held between commands yet; the hook is where pooled resources will go."""


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(func)


def store_option(func: F) -> F:
    return click.option("--store", "store_id", required=True, help="The store (tenant) id.")(func)


pass_app = click.make_pass_decorator(AppContext)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    # By shape, not isinstance: a command that prints no model need not load pydantic.
    data: Any
    if isinstance(value, dict):
        data = value
    elif isinstance(value, Sequence):
        data = [item.model_dump(mode="json", by_alias=True) for item in value]
    else:
        data = value.model_dump(mode="json", by_alias=True)
    click.echo(json.dumps(data, ensure_ascii=False))


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def write_file(path: Path, content: str | bytes, option: str) -> None:
    """Write what a command was asked to put in a file (`option` names the flag, for the error)."""
    try:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{option} {path}: cannot be written: {exc.strerror or exc}") from None
