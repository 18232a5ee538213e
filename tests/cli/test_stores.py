import json

import pytest


def test_create_then_list_as_json(cli):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro", "--name", "Acme Co").code
    assert 0 == cli("stores", "create", "basic", "--plan", "standard").code
    result = cli("stores", "list", "--json")
    assert 0 == result.code
    stores = json.loads(result.out)
    assert [("acme", "Acme Co", "pro"), ("basic", "basic", "standard")] == [
        (s["id"], s["name"], s["plan"]) for s in stores
    ]


def test_creating_an_existing_store_is_a_user_error(cli):
    cli("stores", "create", "acme", "--plan", "pro")
    result = cli("stores", "create", "acme", "--plan", "custom")
    assert 1 == result.code
    assert "error: store acme already exists\n" == result.err
    assert "pro" == json.loads(cli("stores", "list", "--json").out)[0]["plan"]


def test_a_store_id_must_be_a_slug(cli):
    result = cli("stores", "create", "Acme Co", "--plan", "pro")
    assert 1 == result.code
    assert "'Acme Co'" in result.err
    assert [] == json.loads(cli("stores", "list", "--json").out)


def test_an_unknown_plan_is_a_usage_error(cli):
    result = cli("stores", "create", "acme", "--plan", "gold")
    assert 2 == result.code
    assert "gold" in result.err


def test_the_installed_console_script_runs_outside_the_checkout(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "segflow"
    result = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert 0 == result.returncode, result.stderr
    for command in ("worker", "events", "flows", "segments", "stores"):
        assert f"  {command}" in result.stdout


@pytest.mark.parametrize("store_id", ["acme\n", "ac me", "ACME", "acme\u200b", "", "_acme"])
def test_store_ids_are_slugs_and_nothing_else(cli, db, store_id):
    result = cli("stores", "create", store_id, "--plan", "pro")
    assert 1 == result.code
    assert "is not a slug" in result.err
    assert 0 == db.execute("SELECT count(*) FROM stores").fetchone()[0]


def test_a_store_name_with_hidden_characters_is_refused(cli, db):
    result = cli("stores", "create", "acme", "--plan", "pro", "--name", "Acme\u202eevil")
    assert (1, True) == (result.code, "invisible formatting character" in result.err)


def test_the_missing_store_hint_is_a_command_that_works(cli, db):
    hint = cli("segments", "list", "--store", "nope").err
    command = hint.split("`")[1].split()[1:]
    assert 0 == cli(*command).code
    assert 0 == cli("segments", "list", "--store", "nope").code
