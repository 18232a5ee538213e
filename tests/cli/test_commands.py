"""The command tree as a user meets it: help without loading every command, --version, and the
same shape of output and errors on every command (SPEC §7)."""

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

import click

from segflow.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def leaves(command, path=()):
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


def every_command():
    for name, (module, attribute, _help) in COMMANDS.items():
        yield from leaves(getattr(importlib.import_module(module), attribute), (name,))


def test_the_listed_help_is_each_commands_own():
    for name, (module, attribute, listed) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert (name, listed) == (command.name, command.get_short_help_str(limit=200))


def test_help_loads_no_command_module():
    code = "import sys; from segflow.cli import main; main(['--help']); print(sorted(m for m in sys.modules if m.startswith(('segflow.cli.', 'psycopg', 'kafka', 'pydantic', 'structlog'))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "[]" == out.strip().splitlines()[-1]


def test_help_is_quick_as_a_whole_process():
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "segflow", "--help"], cwd=ROOT, capture_output=True, check=True)
    assert time.perf_counter() - started < 1.0  # measured 0.04 s here; 1.5 s when every command loaded


def test_version(cli):
    result = cli("--version")
    assert (0, True) == (result.code, result.out.startswith("segflow "))


def test_every_command_takes_json():
    missing = [
        " ".join(path)
        for path, command in every_command()
        if "--json" not in {o for p in command.params for o in p.opts}
    ]
    assert [] == missing


def test_an_error_under_json_is_also_a_json_document(cli):
    result = cli("segments", "list", "--store", "nowhere", "--json")
    assert 1 == result.code
    assert result.err.startswith("error: store nowhere")
    assert {"error": result.err.removeprefix("error: ").strip()} == json.loads(result.out)
