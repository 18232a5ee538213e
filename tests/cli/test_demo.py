def test_demo_creates_the_demo_store_and_prints_its_customers(cli, db):
    result = cli("demo")
    assert 0 == result.code, result.err
    assert "answering metadata (1 broker)" in result.out
    assert "24 customers in store demo" in result.out
    assert "ann.lee0@example.com" in result.out
    assert 24 == db.execute("SELECT count(*) FROM customers WHERE store_id = 'demo'").fetchone()[0]
    # Run twice: the demo is repeatable and does not duplicate anything.
    assert 0 == cli("demo").code
    assert 24 == db.execute("SELECT count(*) FROM customers WHERE store_id = 'demo'").fetchone()[0]
