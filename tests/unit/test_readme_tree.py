"""The README's "Where things live" is the map a newcomer reads first (issue 27): every folder and
module it names exists, and every room of `segflow/` is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tree() -> list[tuple[int, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("Where things live:", 1)[1].split("```", 2)[1]
    entries = []
    for line in block.splitlines():
        found = re.match(r"^( *)([\w.]+/|[\w]+\.py)\s", line)
        if found:
            entries.append((len(found.group(1)), found.group(2)))
    return entries


def _paths() -> list[Path]:
    paths, parents = [], {0: ROOT}
    for indent, name in _tree():
        parent = parents[indent]
        path = parent / name.rstrip("/")
        paths.append(path)
        parents[indent + 2] = path
    return paths


def test_every_place_the_readme_names_exists():
    missing = [str(p.relative_to(ROOT)) for p in _paths() if not p.exists()]
    assert not missing, f"README names what is not there: {missing}"


def test_every_room_of_segflow_is_on_the_map():
    named = {p for p in _paths() if p.parent == ROOT / "segflow"}
    rooms = {
        p
        for p in (ROOT / "segflow").iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and not p.name.startswith("__"))
    }
    assert rooms - named == set(), f"not on the README's map: {sorted(str(p.name) for p in rooms - named)}"
    assert len(named) >= 5  # the map was read at all
