import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.email import normalise_email


@pytest.mark.parametrize(("raw", "expected"), [(" Ann@Example.COM ", "ann@example.com"), ("a.b+c@x.io", "a.b+c@x.io")])
def test_emails_are_trimmed_and_lowercased(raw, expected):
    assert expected == normalise_email(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "email is empty"),
        ("  ", "email is empty"),
        ("nope", "'nope' is not a valid email"),
        ("a@b@c.com", "'a@b@c.com' is not a valid email"),
    ],
)
def test_malformed_emails_say_why(raw, reason):
    with pytest.raises(ValueError, match=reason):
        normalise_email(raw)


@pytest.mark.parametrize("raw", ["ann@shop.test", "ann@corp.local", "ops@db.localhost", "x@y.invalid"])
def test_special_use_domains_are_emails_like_any_other(raw):
    assert raw == normalise_email(raw)


def test_one_address_in_two_unicode_spellings_is_one_customer():
    nfc, nfd = "Jos\u00e9@example.com", "Jose\u0301@example.com"
    assert nfc != nfd
    assert "jos\u00e9@example.com" == normalise_email(nfc) == normalise_email(nfd)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x" * 308 + "@y.zz", "is too long"),
        ("ann@localhost", "It should have a period"),
        ("a" * 5_000, "an email has at most 254"),
    ],
)
def test_what_the_validator_refuses_it_says_why(raw, reason):
    with pytest.raises(ValueError, match=reason):
        normalise_email(raw)


def _by_the_validator(raw: str) -> str | None:
    """What email-validator alone makes of an address (None: refused), as the rule had it
    before the fast path."""
    from schemas.email import _validator

    validator = _validator()
    try:
        return unicodedata.normalize(
            "NFC", validator.validate_email(raw, check_deliverability=False).normalized.lower()
        )
    except validator.EmailNotValidError:
        return None


PLAIN_OR_NEARLY = [
    "ann@example.com", "Ann.Lee+vip@Shop.Example.CO", "a_b-c@x-y.io", "a@b.cd", "1@2.ab", "x@xn--bcher-kva.ch",
    "a..b@x.com", ".a@x.com", "a.@x.com", "a@-x.com", "a@x-.com", "a@x..com", "a@x.c", "a@x.123", "a@ab--cd.com",
    "a@" + "b" * 63 + ".com", "a@" + "b" * 64 + ".com", "a" * 64 + "@x.com", "a" * 65 + "@x.com",
    "a@" + ".".join(["b" * 63] * 3) + ".com", "a@" + ".".join(["b" * 63] * 4) + ".com", "a@x.c-m", "a@x.co1",
    "a!b@x.com", "a@x_y.com", "a@x.com.", "a@localhost", "a@x.local", "a@x.test",
]  # fmt: skip


@pytest.mark.parametrize("raw", PLAIN_OR_NEARLY)
def test_the_plain_shape_is_what_the_validator_says_of_it(raw):
    from schemas.email import _PLAIN

    if _PLAIN.fullmatch(raw.lower()):
        assert _by_the_validator(raw) == raw.lower()
    try:
        ours: str | None = normalise_email(raw)
    except ValueError:
        ours = None
    assert ours == _by_the_validator(raw)


@settings(max_examples=3000, deadline=None)
@given(
    local=st.text(alphabet="aZ09_+-.!#", max_size=70),
    labels=st.lists(st.text(alphabet="aZ09-_", max_size=66), min_size=1, max_size=5),
    tld=st.text(alphabet="aZc9-", max_size=4),
)
def test_whatever_skips_the_validator_the_validator_accepts_as_it_is(local, labels, tld):
    raw = local + "@" + ".".join([*labels, tld])
    try:
        ours: str | None = normalise_email(raw)
    except ValueError:
        ours = None
    assert ours == _by_the_validator(raw.strip())
