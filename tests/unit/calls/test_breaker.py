"""The circuit breaker's pieces: when it opens, what closes it, the half-open probe, and the
endpoint as messages name it (never a key, a path or a query)."""

from __future__ import annotations

import pytest

from pytest_chatexp._calls import _breaker
from pytest_chatexp._calls._breaker import Breaker, EndpointDown, endpoint_name


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://127.0.0.1:9/v1/chat/completions", "http://127.0.0.1:9"),
        ("https://user:sk-secret@api.example.com/v1?key=sk-secret", "https://api.example.com:443"),
        ("http://example.com/x", "http://example.com:80"),
        ("http://[::1]:8080/v1", "http://[::1]:8080"),
    ],
)
def test_endpoint_name_is_scheme_host_and_port_only(url: str, name: str) -> None:
    assert endpoint_name(url) == name


def test_it_opens_after_the_threshold_of_failures_in_a_row() -> None:
    breaker = Breaker("http://h:1", threshold=3)
    for _ in range(2):
        breaker.unreachable("cannot reach http://h:1/v1: refused")
        breaker.admit("call", first=True)  # not yet
    breaker.reached()  # an answer in between: the count starts again
    breaker.unreachable("x")
    breaker.unreachable("x")
    breaker.admit("call", first=True)
    breaker.unreachable("cannot reach http://h:1/v1: refused")
    with pytest.raises(EndpointDown) as down:
        breaker.admit("model config 'c', input 'i'", first=True)
    assert str(down.value).startswith(
        "model config 'c', input 'i': not sent: http://h:1 cannot be reached: 3 connection "
        "attempts in a row failed (the last: cannot reach http://h:1/v1: refused)"
    )
    assert str(down.value).endswith("; 1 call skipped so far")
    with pytest.raises(EndpointDown):
        breaker.admit("retry", first=False)  # a retry is stopped, not counted as skipped
    assert breaker.skipped == 1


def test_a_threshold_of_zero_never_opens() -> None:
    breaker = Breaker("http://h:1", threshold=0)
    for _ in range(100):
        breaker.unreachable("x")
    breaker.admit("call", first=True)
    assert not breaker.open


def test_one_probe_per_cooldown_and_an_answer_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(_breaker.time, "monotonic", lambda: now[0])
    breaker = Breaker("http://h:1", threshold=1, cooldown=10.0)
    breaker.unreachable("x")
    with pytest.raises(EndpointDown):
        breaker.admit("call", first=True)
    now[0] += 10.0
    breaker.admit("probe", first=True)  # half-open: this one goes out
    with pytest.raises(EndpointDown):
        breaker.admit("call", first=True)  # only one per cooldown
    breaker.unreachable("x")  # the probe failed: closed for another cooldown
    now[0] += 9.0
    with pytest.raises(EndpointDown):
        breaker.admit("call", first=True)
    now[0] += 1.0
    breaker.admit("probe", first=True)
    breaker.reached()  # it answered
    assert not breaker.open
    breaker.admit("call", first=True)
    assert breaker.skipped == 3
