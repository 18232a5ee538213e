"""What segflow shows of a store, written to a folder, so a change meant to keep behaviour can be
checked byte for byte (issue 27): every read-only command's `--json` output (and its table), the
API's OpenAPI document, and every page and API GET of the console with the store's own names.

    SEGFLOW_HOME=/tmp/snap .venv/bin/segflow demo            # once: the demo store
    SEGFLOW_HOME=/tmp/snap .venv/bin/python -m tests.support.snapshot OUT [--store demo]

Run it from two checkouts (before and after) on the same SEGFLOW_HOME and compare the folders
(`diff -r`). It writes nothing to the store but one access token, made the first time and kept
in the home, so both sides read the same database. What differs between two runs of the same
code (a session's CSRF token) is replaced by a placeholder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from segflow.errors import SegflowError
from segflow.infra.config import Config
from segflow.infra.database import connect
from segflow.services import access

CSRF = re.compile(r'(name="csrf_token" value=")[^"]+(")')
CSRF_VALUE = re.compile(r'name="csrf_token" value="([^"]+)"')
ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--store", default="demo")
    args = parser.parse_args()
    config = Config.from_env(dict(os.environ))
    try:
        token = _token(config, args.store)  # the store is checked here, before anything is written
        names = _names(config, args.store)
    except SegflowError as exc:
        raise SystemExit(f"error: {exc}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    _commands(args.out / "cli", args.store, names)
    _console(args.out / "web", config, names, token)
    print(f"wrote {sum(1 for p in args.out.rglob('*') if p.is_file())} files to {args.out}")


def _token(config: Config, store: str) -> str:
    """The access token both sides use: made the first time, then kept in the home."""
    token_file = config.home / f"snapshot-token-{store}"
    if not token_file.exists():
        with connect(config) as conn:
            token_file.write_text(access.new_token(conn, store).token)
    return token_file.read_text()


def _names(config: Config, store: str) -> dict[str, list[str]]:
    """The store's segments, flows and some customers."""
    with connect(config) as conn:
        return {
            "segments": [
                r[0] for r in conn.execute("SELECT name FROM segments WHERE store_id = %s ORDER BY name", (store,))
            ],
            "flows": [r[0] for r in conn.execute("SELECT id FROM flows WHERE store_id = %s ORDER BY id", (store,))],
            "customers": [
                r[0]
                for r in conn.execute(
                    "SELECT email FROM customers WHERE store_id = %s ORDER BY email LIMIT 6", (store,)
                )
            ],
        }


def _commands(out: Path, store: str, names: dict[str, list[str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    commands: list[list[str]] = [
        ["stores", "list"],
        ["segments", "list", "--store", store],
        ["segments", "template"],
        ["customers", "list", "--store", store],
        ["flows", "list", "--store", store],
        ["flows", "schema"],
        ["events", "schema"],
        ["events", "asyncapi"],
        ["segments", "show", "No such segment", "--store", store],
        ["customers", "show", "nobody@nowhere.example", "--store", store],
    ]
    for name in names["segments"]:
        commands.append(["segments", "show", name, "--store", store])
    for flow_id in names["flows"]:
        commands += [
            ["flows", "show", flow_id, "--store", store],
            ["flows", "stats", flow_id, "--store", store],
            ["flows", "graph", flow_id, "--store", store],
        ]
    for email in names["customers"]:
        commands += [["customers", "show", email, "--store", store], ["customers", "explain", email, "--store", store]]
    for index, command in enumerate(commands):
        for as_json in (True, False):
            args = [*command, "--json"] if as_json else command
            ran = subprocess.run(
                [sys.executable, "-m", "segflow", *args], capture_output=True, text=True, cwd=ROOT, check=False
            )
            kind = "json" if as_json else "text"
            (out / f"{index:03d}-{kind}.txt").write_text(
                f"$ segflow {' '.join(args)}\nexit {ran.returncode}\n--- stdout\n{ran.stdout}--- stderr\n{ran.stderr}"
            )


def _console(out: Path, config: Config, names: dict[str, list[str]], token: str) -> None:
    from fastapi.testclient import TestClient

    from segflow.web.app import create_app

    out.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    paths = [
        "/api/v1/openapi.json",
        "/login",
        "/",
        "/segments",
        "/flows",
        "/template.csv",
        "/nowhere",
        "/api/v1/segments",
        "/api/v1/flows",
    ]
    paths += [f"/segments/{quote(n, safe='')}" for n in names["segments"]]
    paths += [f"/api/v1/segments/{quote(n, safe='')}" for n in names["segments"]]
    for flow_id in names["flows"]:
        paths += [f"/flows/{quote(flow_id, safe='')}", f"/flows/{quote(flow_id, safe='')}?version=1"]
        paths += [f"/api/v1/flows/{quote(flow_id, safe='')}"]
    paths += [f"/customers/{quote(e, safe='')}" for e in names["customers"]]
    for email in names["customers"]:
        paths += [f"/api/v1/customers/{quote(email, safe='')}", f"/api/v1/customers/{quote(email, safe='')}/explain"]
    with TestClient(app, base_url="http://console.test", follow_redirects=False) as client:
        login = client.get("/login")
        csrf = CSRF_VALUE.search(login.text)
        assert csrf is not None, "the login page has no form"
        client.post("/login", data={"token": token, "csrf_token": csrf.group(1)})
        for index, path in enumerate(paths):
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
            answer = client.get(path, headers=headers)
            body = CSRF.sub(r"\1CSRF\2", answer.text)
            kept = {
                k: v for k, v in answer.headers.items() if k.lower() not in ("date", "set-cookie", "content-length")
            }
            (out / f"{index:03d}.txt").write_text(
                f"GET {path}\n{answer.status_code}\n{json.dumps(kept, sort_keys=True)}\n{body}"
            )


if __name__ == "__main__":
    main()
