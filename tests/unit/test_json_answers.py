"""JSON answers (web.json_response) are compact UTF-8, byte for byte what the standard
library's json.dumps(ensure_ascii=False, separators=(",", ":")) writes, whatever text a
user stored: the encoder was swapped for speed, and clients must not see the change."""

from __future__ import annotations

import json
from http import HTTPStatus

from hypothesis import given, settings
from hypothesis import strategies as st
from imagehost.web import json_response

# Text as users send it, and as the labels keep it: any code point but lone surrogates
# (which no UTF-8 answer can carry, and labels.py never stores).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5), max_leaves=30
)


def standard_library_bytes(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_hostile_text_is_answered_as_the_standard_library_writes_it():
    payload = {
        "title": '<script>alert("x")</script> \\ / \u202e\u2066 \u2028\u2029 \x00\x1f\x7f \ufeff',
        "description": "line\nnext\tend\r \U0001f600 caf\u00e9 \u0645\u0631\u062d\u0628\u0627",
        "tags": ["cat", "holiday-2026"],
        "size": 5 * 1024 * 1024,
        "expires_at": None,
        "public": True,
    }
    body = json_response(HTTPStatus.OK, payload).body
    assert body == standard_library_bytes(payload)
    assert json.loads(body) == payload


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_json_value_is_answered_as_the_standard_library_writes_it(payload):
    assert json_response(HTTPStatus.OK, payload).body == standard_library_bytes(payload)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_with_a_fraction_reads_back_as_the_same_number(number):
    # Exponents may be spelt differently (1e16 or 1e+16); the value is the same.
    assert json.loads(json_response(HTTPStatus.OK, {"n": number}).body) == {"n": number}
