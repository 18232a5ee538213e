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
