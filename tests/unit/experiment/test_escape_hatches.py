"""Extra headers and query parameters on a config: sent, never part of its id, its dumps, its
repr or a variant's name, and their values known secrets of the session."""

from __future__ import annotations

from pytest_chatexp import ModelConfig
from pytest_chatexp._providers._base import with_query

SECRET = "gw-Zq8xK2mN4pL7vR9tY3w"


def test_headers_and_query_stay_out_of_the_id_dumps_and_repr() -> None:
    plain = ModelConfig(model="m")
    hatched = ModelConfig(model="m", headers={"X-Auth": SECRET}, query={"key": SECRET})
    assert hatched.headers == {"X-Auth": SECRET} and hatched.query == {"key": SECRET}
    assert hatched.model_config_id == plain.model_config_id
    assert hatched.sent_fields() == plain.sent_fields()
    assert SECRET not in repr(hatched)
    assert SECRET not in str(hatched.model_dump()) + hatched.model_dump_json()


def test_a_variant_keeps_them_and_names_only_their_names() -> None:
    base = ModelConfig(model="m", headers={"X-Auth": SECRET})
    assert base.variant(temperature=0.5).headers == {"X-Auth": SECRET}
    renamed = ModelConfig(model="m").variant(headers={"X-Auth": SECRET}, query={"k": SECRET})
    assert renamed.name == "m[headers=X-Auth,query=k]"


def test_with_query_appends_after_the_urls_own_query() -> None:
    assert with_query("http://h/v1/chat", {}) == "http://h/v1/chat"
    assert with_query("http://h/v1/chat", {"a": "1 2"}) == "http://h/v1/chat?a=1+2"
    assert with_query("http://h/v1?api-version=3", {"b": "x"}) == "http://h/v1?api-version=3&b=x"


def test_the_session_knows_their_values_as_secrets() -> None:
    from pytest_chatexp._redaction import redact
    from pytest_chatexp._session._keys import secrets_of

    hatched = ModelConfig(model="m", headers={"X-Auth": SECRET}, query={"key": SECRET + "q"})
    found = [value for value in secrets_of([hatched]) if value]
    assert SECRET in found and SECRET + "q" in found
    assert SECRET not in redact(f"echoed {SECRET}", also=found)
