import json

import structlog

from segflow.logging import configure


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
