"""Bad input and unusable settings end in one line naming them, never a traceback (SPEC §7)."""

import json

import pytest


def test_an_argument_that_is_not_utf8(cli):
    result = cli("segments", "create", "\udcff\udcfe", "--store", "acme")  # how Python passes undecodable bytes
    assert (2, "error: argument 3 is not valid UTF-8: \\xff\\xfe\n") == (result.code, result.err)


def test_a_limit_beyond_what_is_sensible(cli):
    result = cli("segments", "show", "X", "--store", "acme", "--limit", "9223372036854775808")
    assert 2 == result.code
    assert "9223372036854775808 is not in the range 0<=x<=1000000" in result.err


@pytest.mark.parametrize("url", ["postgresql://ann:hunter2@[::1", "host=db password=hunter2 = nonsense"])
def test_a_malformed_database_url_is_named_and_its_password_is_not_shown(cli, monkeypatch, url):
    monkeypatch.setenv("SEGFLOW_DATABASE_URL", url)
    result = cli("stores", "list", "--json")
    assert 1 == result.code
    assert result.err.startswith("error: SEGFLOW_DATABASE_URL is not a PostgreSQL connection URL")
    assert "hunter2" not in result.err + result.out
    assert json.loads(result.out)["error"].startswith("SEGFLOW_DATABASE_URL")


def test_a_home_that_cannot_hold_the_database(cli, monkeypatch, tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.delenv("SEGFLOW_DATABASE_URL")
    monkeypatch.setenv("SEGFLOW_HOME", str(not_a_directory / "home"))
    result = cli("stores", "list")
    assert 1 == result.code
    assert f"error: SEGFLOW_HOME {not_a_directory / 'home'} cannot hold the embedded PostgreSQL" in result.err


def test_a_template_written_where_there_is_no_directory(cli, tmp_path):
    result = cli("segments", "template", "-o", str(tmp_path / "missing" / "t.csv"))
    assert (1, f"error: cannot write the template to {tmp_path / 'missing' / 't.csv'}: No such file or directory\n") == (
        result.code, result.err
    )  # fmt: skip
