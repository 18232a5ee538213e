import pytest

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
