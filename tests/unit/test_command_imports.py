"""What each command loads (issue 25): a user feels start-up on every command, so a command's
module, imported in a fresh interpreter as `segflow` imports it, loads no heavy module it does
not use. No timing here (benchmarks.commands times whole processes); only which modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from segflow.cli import COMMANDS

HEAVY = {
    "httpx": "the HTTP client (Klaviyo)",
    "integrations.klaviyo": "the Klaviyo client",
    "segflow.services.klaviyo": "the Klaviyo service",
    "engine.batch": "the engine",
    "schemas.flow": "the flow model",
    "fastapi": "the console",
    "uvicorn": "the console's server",
    "jinja2": "the console's pages",
    "grandalf": "the flow graph's layout",
    "kafka": "the broker client",
    "confluent_kafka": "the relay's producer",
    "tqdm": "progress bars",
    "yaml": "the AsyncAPI writer",
    "email_validator": "the email rule's validator",
    "pydantic": "the report and event models",
}

_MODELS = {"pydantic"}

# What each command group may load when its module is imported: what most of its commands use.
# Whatever one command alone uses is imported by that command.
ALLOWED: dict[str, set[str]] = {
    "db": set(),
    "stores": _MODELS,
    "customers": _MODELS,
    "segments": set(),  # `segments list` prints its table without the models: merchants script it
    "flows": {"engine.batch", "schemas.flow", *_MODELS},
    "events": {"email_validator", *_MODELS},
    "worker": {
        "engine.batch",
        "schemas.flow",
        "kafka",
        "confluent_kafka",
        "httpx",
        "integrations.klaviyo",
        "segflow.services.klaviyo",
        "email_validator",
        *_MODELS,
    },
    "dlq": {"kafka", *_MODELS},
    "serve": set(),
    "broker": set(),
    "demo": set(HEAVY),  # everything, end to end
}


def loaded_by(module: str) -> set[str]:
    probe = f"import json, sys, importlib; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(found.stdout))


def test_every_command_is_listed_here():
    assert set(ALLOWED) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_loads_only_the_heavy_modules_it_uses(command):
    loaded = loaded_by(COMMANDS[command][0])
    heavy = {name for name in HEAVY if name in loaded}
    unexpected = {f"{name} ({HEAVY[name]})" for name in heavy - ALLOWED[command]}
    assert not unexpected, f"`segflow {command}` loads {', '.join(sorted(unexpected))} at start-up"
