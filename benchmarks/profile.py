"""Where the worker's main process spends its CPU, by kind of work, from a cProfile file.

    SEGFLOW_BENCH_PROFILE=/tmp/worker.prof .venv/bin/python -m benchmarks --only-throughput
    .venv/bin/python -m benchmarks.profile /tmp/worker.prof [--events 200000] [--top 15]

Each function's own time (not what it calls) goes to the kind its module belongs to; cProfile
slows many small calls more than few large ones, so read the split as proportions, and the
run's events/s from a run without the profiler.
"""

from __future__ import annotations

import argparse
import pstats

KINDS = (
    # (kind, fragments of the module's path or the function's name), the first that matches wins
    (
        "waiting (for PostgreSQL's answers; the broker client's own thread idling)",
        (
            "psycopg/connection.py",
            "psycopg/waiting",
            "acquire' of '_thread.lock",
            "threading.py",
        ),
    ),
    ("dumping parameters (psycopg's Python array dumper)", ("psycopg/types/array.py",)),
    ("building and running SQL (psycopg, db/)", ("psycopg/", "/db/")),
    ("reading the broker (kafka-python)", ("kafka/",)),
    ("decoding events (JSON, pydantic, email rule)", ("schemas/", "pydantic", "email_validator", "json/")),
    ("the engine and nodes", ("/engine/", "/nodes/")),
    ("the consumer loop (consumers/, worker/)", ("/consumers/", "/segflow/worker/")),
    ("logging", ("structlog", "logging/")),
)


def kind_of(filename: str, name: str = "") -> str:
    for kind, fragments in KINDS:
        if any(fragment in filename or fragment in name for fragment in fragments):
            return kind
    if filename.startswith("~") or filename.startswith("<"):
        return "built-ins (str, dict, list, ...)"
    return "other"


def split(path: str) -> tuple[dict[str, float], float, list[tuple[float, str]]]:
    stats = pstats.Stats(path)
    by_kind: dict[str, float] = {}
    functions: list[tuple[float, str]] = []
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, _nc, own, _cumulative, _callers) in entries.items():
        kind = kind_of(filename, name)
        by_kind[kind] = by_kind.get(kind, 0.0) + own
        functions.append((own, f"{filename.rsplit('/', 2)[-2:]}:{line}({name})"))
    total = sum(by_kind.values())
    return by_kind, total, sorted(functions, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    by_kind, total, functions = split(args.profile)
    print(f"worker main process under cProfile: {total:.1f} s own time, {total / args.events * 1e6:.0f} µs per event")
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"  {seconds / total:6.1%}  {seconds / args.events * 1e6:6.1f} µs/event  {kind}")
    print(f"the {args.top} functions with the most own time:")
    for seconds, where in functions[: args.top]:
        print(f"  {seconds:7.2f} s  {where}")


if __name__ == "__main__":
    main()
