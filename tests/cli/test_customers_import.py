import json

import pytest

HEADER = "email,external_id,first_name,last_name,phone\r\n"


def customers(db, store="acme"):
    rows = db.execute(
        "SELECT email, external_id, first_name, last_name, phone FROM customers WHERE store_id = %s ORDER BY email",
        (store,),
    ).fetchall()
    return [tuple(r) for r in rows]


@pytest.fixture
def acme(cli):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code


def test_import_adds_customers_normalising_emails(cli, db, acme, write_file):
    path = write_file(
        "c.csv",
        "\ufeff" + HEADER + ' Ann@Example.com ,c_1,Ann,Lee,+1555\r\n"bo@example.com","c_2","Bo, Jr.",,\r\n',
    )
    result = cli("customers", "import", str(path), "--store", "acme", "--json")
    assert 0 == result.code, result.err
    assert {"rows": 2, "added": 2, "updated": 0, "invalid_rows": []}.items() <= json.loads(result.out).items()
    assert [
        ("ann@example.com", "c_1", "Ann", "Lee", "+1555"),
        ("bo@example.com", "c_2", "Bo, Jr.", None, None),
    ] == customers(db)


def test_reimport_updates_only_what_changed_and_keeps_fields_left_empty(cli, db, acme, write_file):
    cli(
        "customers",
        "import",
        str(write_file("a.csv", HEADER + "ann@example.com,c_1,Ann,Lee,+1555\n")),
        "--store",
        "acme",
    )
    path = write_file("b.csv", HEADER + "ANN@example.com,,Annie,,\nbo@example.com,,,,\n")
    report = json.loads(cli("customers", "import", str(path), "--store", "acme", "--json").out)
    assert (2, 1, 1, 0) == (report["rows"], report["added"], report["updated"], report["unchanged"])
    assert ("ann@example.com", "c_1", "Annie", "Lee", "+1555") == customers(db)[0]
    again = json.loads(cli("customers", "import", str(path), "--store", "acme", "--json").out)
    assert (0, 0, 2) == (again["added"], again["updated"], again["unchanged"])


def test_semicolon_delimited_file_with_only_emails(cli, db, acme, write_file):
    path = write_file("c.csv", "Email;First_Name\nann@example.com;Ann\n\n")
    assert 0 == cli("customers", "import", str(path), "--store", "acme").code
    assert [("ann@example.com", None, "Ann", None, None)] == customers(db)


def test_missing_email_column_writes_nothing(cli, db, acme, write_file):
    path = write_file("c.csv", "name,phone\nAnn,+1555\n")
    result = cli("customers", "import", str(path), "--store", "acme")
    assert 1 == result.code
    assert f"error: {path}: line 1: no email column in the header (found: name, phone)\n" == result.err
    assert [] == customers(db)


def test_bad_email_on_line_7_names_the_line_and_writes_nothing(cli, db, acme, write_file):
    good = "".join(f"p{i}@example.com,,,,\n" for i in range(5))
    path = write_file("c.csv", HEADER + good + "not-an-email,,,,\n" + "last@example.com,,,,\n")
    result = cli("customers", "import", str(path), "--store", "acme")
    assert 1 == result.code
    assert (
        f"error: {path}: line 7: 'not-an-email' is not a valid email: an email address must have an @-sign; "
        "nothing was imported\n"
    ) == result.err
    assert [] == customers(db)


def test_file_that_is_not_utf8_names_the_line_and_writes_nothing(cli, db, acme, write_file):
    path = write_file("c.csv", (HEADER + "ann@example.com,,,,\nbj\xf6rn@example.com,,Bj\xf6rn,,\n").encode("latin-1"))
    result = cli("customers", "import", str(path), "--store", "acme")
    assert 1 == result.code
    assert "line 3 is not UTF-8 (byte 0xf6)" in result.err
    assert [] == customers(db)


def test_duplicate_email_in_file_is_refused(cli, db, acme, write_file):
    path = write_file("c.csv", HEADER + "ann@example.com,,,,\nANN@example.com ,,,,\n")
    result = cli("customers", "import", str(path), "--store", "acme")
    assert 1 == result.code
    assert "line 3: ann@example.com already appears on line 2" in result.err
    assert [] == customers(db)


def test_unknown_store_and_missing_file(cli, write_file):
    path = write_file("c.csv", HEADER)
    assert "error: store nope not found" in cli("customers", "import", str(path), "--store", "nope").err
    result = cli("customers", "import", "/no/such.csv", "--store", "nope")
    assert 1 == result.code


def test_customers_of_one_store_are_invisible_to_another(cli, db, acme, write_file):
    cli("stores", "create", "other", "--plan", "pro")
    cli("customers", "import", str(write_file("a.csv", HEADER + "ann@example.com,c_1,Ann,,\n")), "--store", "acme")
    report = json.loads(
        cli(
            "customers",
            "import",
            str(write_file("b.csv", HEADER + "ann@example.com,x_9,Zed,,\n")),
            "--store",
            "other",
            "--json",
        ).out
    )
    assert 1 == report["added"]
    assert [("ann@example.com", "c_1", "Ann", None, None)] == customers(db, "acme")
    assert [("ann@example.com", "x_9", "Zed", None, None)] == customers(db, "other")
