import json

import structlog

from segflow.infra.logging import configure


def test_json_lines_carry_bound_context_and_mask_secrets(capsys):
    configure("json")
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(store_id="acme", event_id="evt_1"):
        log.info("key_stored", api_key="pk_live_secret", customer="ann@example.com")
    line = json.loads(capsys.readouterr().err.strip())
    assert {
        "event": "key_stored",
        "store_id": "acme",
        "event_id": "evt_1",
        "api_key": "***",
        "customer": "ann@example.com",
        "level": "info",
    }.items() <= line.items()
    assert "pk_live_secret" not in json.dumps(line)


def test_in_json_mode_what_libraries_log_and_crashing_threads_are_json_too(capsys, monkeypatch):
    import logging
    import sys
    import threading

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # configure() replaces them; put them back
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    configure("json")
    logging.getLogger("psycopg").warning("error ignored terminating %r", "<psycopg.Pipeline [BAD]>")

    def crash() -> None:
        raise RuntimeError("a bug in a thread")

    thread = threading.Thread(target=crash, name="segflow-sync")
    thread.start()
    thread.join()
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]  # every line is JSON
    assert ("error ignored terminating '<psycopg.Pipeline [BAD]>'", "psycopg", "warning") == (
        lines[0]["event"], lines[0]["logger"], lines[0]["level"]
    )  # fmt: skip
    assert ("thread_crashed", "segflow-sync") == (lines[1]["event"], lines[1]["thread"])
    assert "RuntimeError: a bug in a thread" in lines[1]["exception"]


def test_structlog_is_configured_when_something_first_imports_it():
    """A command that never logs never loads structlog; one that does gets it configured."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from segflow.infra.logging import configure\n"
        "configure('json')\n"
        "print('structlog' in sys.modules)\n"
        "import structlog\n"
        "structlog.get_logger().info('late', api_key='pk_live_secret')\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"
    line = json.loads(ran.stderr.strip())
    assert (line["event"], line["api_key"], line["level"]) == ("late", "***", "info")
