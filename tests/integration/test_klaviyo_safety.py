"""The Klaviyo client is safe against its server: the key goes nowhere else, nothing pages or
waits forever, and no transaction stays open while Klaviyo answers (SPEC §6)."""

import pytest
from pydantic import SecretStr

from integrations.klaviyo import Client, KlaviyoError, KlaviyoUnavailable
from tests.fakes.klaviyo import FakeKlaviyo, Group
from tests.support.klaviyo import KEY, import_list, profiles


@pytest.fixture
def elsewhere():
    server = FakeKlaviyo(api_key=KEY).start()
    yield server
    server.stop()


def test_a_next_link_to_another_host_is_refused_and_the_key_never_sent_there(cli, db, fake, acme, elsewhere):
    fake.lists["L1"] = Group("News", profiles(250))
    fake.next_base = elsewhere.base_url.replace("127.0.0.1", "localhost")  # same machine, another origin
    result = import_list(cli, "--external-id", "L1")
    assert 1 == result.code
    assert "next page link points to http://localhost" in result.err
    assert "refused" in result.err and KEY not in result.err
    assert [] == elsewhere.requests  # no request, so no key, reached the other origin
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]


def test_a_server_that_pages_forever_is_stopped(cli, db, fake, acme):
    fake.lists["L1"] = Group("News", profiles(250))
    fake.repeat_cursor = True
    result = import_list(cli, "--external-id", "L1")
    assert 1 == result.code
    assert "next page is one it already gave" in result.err
    assert len(fake.requests) < 10


def test_an_import_has_a_deadline(fake):
    fake.lists["L1"] = Group("News", profiles(250))
    now = [0.0]

    def clock() -> float:
        now[0] += 100.0  # every request takes "100 s"
        return now[0]

    client = Client(fake.base_url, SecretStr(KEY), deadline_s=250.0, clock=clock)
    with pytest.raises(KlaviyoUnavailable, match="took longer than 250 s"):
        list(client.profile_emails("list", "L1"))
    assert isinstance(KlaviyoUnavailable("x"), KlaviyoError)


def test_a_sync_holds_no_transaction_while_klaviyo_answers(cli, db, fake, acme):
    fake.lists["L1"] = Group("News", profiles(250))
    assert 0 == import_list(cli, "--external-id", "L1").code
    seen: list[tuple[int, int]] = []

    def look(path: str) -> None:
        if "/profiles/" in path:
            idle_in_transaction = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%%'"
            ).fetchone()[0]
            lockable = len(db.execute("SELECT id FROM segments WHERE name = 'Newsletter' FOR UPDATE NOWAIT").fetchall())
            seen.append((idle_in_transaction, lockable))

    fake.on_request = look
    assert 0 == cli("segments", "sync", "Newsletter", "--store", "acme").code
    assert len(seen) == 3 and all(s == (0, 1) for s in seen)  # three pages, and never a lock or open transaction


@pytest.mark.parametrize(("garbled", "said"), [(b"<html>502</html>", "not JSON"), (b'{"data": 7}', "malformed reply")])
def test_a_malformed_reply_is_an_error_that_says_so(cli, db, fake, acme, garbled, said):
    fake.lists["L1"] = Group("News", profiles(20), garbled=garbled)
    result = import_list(cli, "--external-id", "L1")
    assert 1 == result.code
    assert result.err.startswith("error: Klaviyo refused a request for store acme") and said in result.err
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]
