"""What a merchant types, as SPEC §1 and §6 read it (issue 24, item 7): one Unicode form of a
segment name, no path step as a name, a person's name that cannot reorder the page around it,
a CSV row of empty cells counted and reported, and an empty Klaviyo id refused before a request."""

import json
import unicodedata

from tests.support.klaviyo import import_list

COMPOSED = unicodedata.normalize("NFC", "Café")
DECOMPOSED = unicodedata.normalize("NFD", "Café")


def test_composed_and_decomposed_are_one_segment_name(cli, db, acme):
    assert COMPOSED != DECOMPOSED
    assert 0 == cli("segments", "create", DECOMPOSED, "--store", "acme").code
    again = cli("segments", "create", COMPOSED, "--store", "acme")
    assert (1, f'error: segment "{COMPOSED}" already exists in store acme\n') == (again.code, again.err)
    assert [(COMPOSED,)] == db.execute("SELECT name FROM segments WHERE store_id = 'acme'").fetchall()
    shown = cli("segments", "show", DECOMPOSED, "--store", "acme", "--json")
    assert 0 == shown.code and COMPOSED == json.loads(shown.out)["segment"]["name"]


def test_a_path_step_is_not_a_segment_name(cli, db, acme):
    for name in (".", ".."):
        result = cli("segments", "create", name, "--store", "acme")
        assert (1, f"error: segment name '{name}' is a path step, not a name\n") == (result.code, result.err)
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]


def test_a_name_with_a_bidi_override_refuses_the_customer_file_naming_the_line(cli, db, acme, write_file):
    path = write_file("c.csv", "email,first_name,last_name\nann@shop.test,Ann,Lee\nbo@shop.test,Bo,\u202eeL\n")
    result = cli("customers", "import", str(path), "--store", "acme")
    assert 1 == result.code
    assert f"error: {path}: line 3: last_name contains a bidirectional control character (U+202E)" in result.err
    assert 0 == db.execute("SELECT count(*) FROM customers WHERE email LIKE '%@shop.test'").fetchone()[0]


def test_a_row_of_empty_cells_is_a_row_without_an_email(cli, db, acme, write_file):
    cli("customers", "import", str(write_file("c.csv", "email\n" + "".join(f"u{i}@shop.test\n" for i in range(5)))),
        "--store", "acme")  # fmt: skip
    csv = "email,first_name\n" + "".join(f"u{i}@shop.test,\n" for i in range(5)) + ",\n\n"
    result = cli("segments", "import", "Team", str(write_file("s.csv", csv)), "--store", "acme", "--create", "--json")
    assert 0 == result.code, result.err
    report = json.loads(result.out)
    assert (6, 5) == (report["rows"], report["added"])
    assert [{"line": 7, "reason": "email is empty"}] == report["invalid_rows"]


def test_an_empty_klaviyo_id_is_refused_before_any_request(cli, db, fake, acme):
    result = import_list(cli, "--external-id", " ")
    assert (1, "error: the Klaviyo list id is empty; give the id of a list, or its name\n") == (result.code, result.err)
    assert [] == fake.requests
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]
