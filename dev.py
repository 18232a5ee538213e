#!/usr/bin/env python3
"""Set up and run segflow from a fresh checkout with nothing but Python 3.11+.

    python3 dev.py demo    # make .venv, install segflow with the embedded services, run the demo
    python3 dev.py test    # make .venv, install segflow for development, run lint, types, layering and tests

The virtual environment is reinstalled only when pyproject.toml changes. Extra arguments after
`test` go to pytest (e.g. `python3 dev.py test -m unit`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".segflow-installed"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[embedded,dev]")
    STAMP.write_text(wanted)


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"segflow needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not argv or argv[0] not in ("demo", "test"):
        sys.exit(__doc__)
    ensure_venv()
    if argv[0] == "demo":
        run(BIN / "segflow", "demo", *argv[1:])
    else:
        run(BIN / "ruff", "check", ".")
        run(BIN / "mypy")
        run(BIN / "lint-imports")  # the layering contracts in pyproject.toml
        run(BIN / "pytest", *argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
