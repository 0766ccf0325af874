"""The known secrets follow the environment: a value set, changed or removed between two calls
(as a test's monkeypatch does) is seen at the next call, though the scan is kept between them."""

from __future__ import annotations

import pytest

from pytest_chatexp._redaction import environment_secrets, redact


def test_the_environment_is_read_afresh_after_every_change(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = "sk-first0123456789abcdef", "sk-second0123456789abcdef"
    monkeypatch.setenv("CHATEXP_TEST_API_KEY", first)
    assert first in environment_secrets()
    monkeypatch.setenv("CHATEXP_TEST_API_KEY", second)
    assert second in environment_secrets() and first not in environment_secrets()
    assert redact(f"key={second}") == "key=[REDACTED]"
    monkeypatch.setenv("CHATEXP_TEST_BASE_URL", "https://u:pw-0123456789abcdef@host/v1")
    assert "pw-0123456789abcdef" in environment_secrets()
    monkeypatch.delenv("CHATEXP_TEST_API_KEY")
    assert second not in environment_secrets()


def test_a_caller_cannot_change_what_the_next_caller_gets() -> None:
    environment_secrets().append("not-a-secret")
    assert "not-a-secret" not in environment_secrets()


def test_a_given_mapping_is_scanned_as_it_is() -> None:
    assert environment_secrets({"MY_TOKEN": "t0k3n-0123456789abcdef", "HOME": "/root"}) == [
        "t0k3n-0123456789abcdef"
    ]
