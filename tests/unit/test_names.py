from __future__ import annotations

import pytest

from slipway.errors import InvalidArgument
from slipway.names import MODEL_REF_SCHEMA, NAME_SCHEMA, REF_SCHEMA, check_name, escape_controls, parse_ref


@pytest.mark.parametrize("name", ["cancer", "a", "x" * 63, "my-data_v2.1"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "..", "a..b", "has space", "x" * 64, "-x", ".hidden", "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument):
        check_name(name)


def test_refs() -> None:
    assert parse_ref("cancer") == ("cancer", None)
    assert parse_ref("cancer:latest") == ("cancer", None)
    assert parse_ref("cancer:3") == ("cancer", 3)
    for bad in ("cancer:0", "cancer:-1", "cancer:x", "../x:1"):
        with pytest.raises(InvalidArgument):
            parse_ref(bad)


@pytest.mark.parametrize("name, code", [("a\x01b", "U+0001"), ("a\nb", "U+000A"), ("a\x7f", "U+007F"),
                                        ("\x85x", "U+0085"), ("ok\u202e", "U+202E")])
def test_a_control_character_is_named_and_never_echoed_raw(name: str, code: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_name(name, "model")
    assert code in info.value.message and info.value.details["character"] == code
    assert not any(c in info.value.message + info.value.details["value"] for c in name if not c.isalnum())


def test_escape_controls_keeps_printable_text() -> None:
    assert escape_controls("GET /a\nb é") == "GET /a\\u000ab é"


@pytest.mark.parametrize("schema", [NAME_SCHEMA, REF_SCHEMA, MODEL_REF_SCHEMA])
@pytest.mark.parametrize("text", ["cancer", "a", "x" * 63, "my-data_v2.1", "a.", "", "..", "a..b", "-x", ".x",
                                  "a b", "é", "x" * 64, "cancer:3", "cancer:latest", "cancer:0", "cancer@prod"])
def test_the_openapi_patterns_say_what_the_services_accept(schema: dict[str, object], text: str) -> None:
    import re

    def accepted() -> bool:
        try:
            if schema is NAME_SCHEMA:
                check_name(text)
            elif "@" in text and schema is MODEL_REF_SCHEMA:
                name, _, alias = text.partition("@")
                check_name(name), check_name(alias)
            else:
                parse_ref(text)
            return True
        except InvalidArgument:
            return False

    pattern = re.search(str(schema["pattern"]), text) is not None
    documented = pattern and len(text) <= int(schema.get("maxLength", 10**6))  # type: ignore[call-overload]
    if "@" in text and schema is not MODEL_REF_SCHEMA:
        assert not documented
    elif schema is MODEL_REF_SCHEMA:  # bounded, without lookaheads: it may leave out a few accepted refs
        assert accepted() or not documented, text
    else:
        assert documented == accepted(), (schema, text)
