"""Titles, descriptions and tags (labels.py), the listing's filters (search.py) and
expiry durations (durations.py, expiry.py): normalisation and limits, no server."""

from __future__ import annotations

import re
import time

import pytest
from imagehost import durations, expiry, index_postgres, index_sqlite, labels, search
from imagehost.config import ConfigError, load_config
from imagehost.errors import BadRequest


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(BadRequest) as refused:
        call(*args, **kwargs)
    return refused.value.message


@pytest.mark.parametrize(
    "given, stored",
    [
        ("  A cat  ", "A cat"),
        ("Cafe\u0301", "Café"),  # NFC
        ("a\x00b\x07c\x1bd\x7fe", "abcde"),
        ("line\nbreak\ttab\r", "linebreaktab"),
        ("\u202eevil.exe\u202c", "evil.exe"),
        ("\u2066isolated\u2069 \u202aembedded\u202c \u202boverride\u202d", "isolated embedded override"),
        ("<b>bold</b> & 'quotes'", "<b>bold</b> & 'quotes'"),
    ],
)
def test_a_title_is_stored_normalised_without_control_or_direction_characters(given, stored):
    assert labels.title(given) == stored


def test_a_description_keeps_its_line_breaks_and_tabs_but_not_carriage_returns():
    assert labels.description("one\r\ntwo\tthree\x00") == "one\ntwo\tthree"


@pytest.mark.parametrize(
    "call, field, limit",
    [(labels.title, "title", labels.MAX_TITLE), (labels.description, "description", labels.MAX_DESCRIPTION)],
)
def test_text_over_its_limit_is_refused_naming_the_field_and_the_limit(call, field, limit):
    assert call("x" * limit) == "x" * limit
    message = refusal(call, "x" * (limit + 1))
    assert field in message and str(limit) in message and str(limit + 1) in message


def test_the_limit_counts_characters_after_control_characters_are_removed():
    assert labels.title("\x00" * 50 + "x" * labels.MAX_TITLE) == "x" * labels.MAX_TITLE


@pytest.mark.parametrize("value", [None, 5, ["a"], {"a": 1}])
def test_a_title_that_is_not_text_is_refused(value):
    assert "'title' must be text" in refusal(labels.title, value)


@pytest.mark.parametrize(
    "given, normalised",
    [
        ("Cat", "cat"),
        ("Black Cat", "black-cat"),
        ("black_cat", "black-cat"),
        ("  spaced   out  ", "spaced-out"),
        ("\uff26\uff35\uff2c\uff2c", "full"),  # full-width letters: NFKC
        ("Ünïcödé", "ünïcödé"),
        ("2026", "2026"),
        ("holiday-2026", "holiday-2026"),
        ("हिन्दी", "हिन्दी"),  # Devanagari: letters with combining vowel signs
        ("ภาษาไทย", "ภาษาไทย"),  # Thai: the same
        ("İstanbul", "i̇stanbul"),  # lower-cased with a combining dot
        ("猫", "猫"),
        ("-dash-", "dash"),
    ],
)
def test_a_tag_is_normalised_to_lower_case_letters_digits_and_dashes(given, normalised):
    assert labels.tag(given) == normalised


@pytest.mark.parametrize(
    "given, says",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("---", "empty"),
        ("a" * 41, "at most 40"),
        ("c++", "only letters, digits and '-'"),
        ("<b>", "only letters, digits and '-'"),
        ("a,b", "only letters, digits and '-'"),
        ("\u0301accent", "only letters, digits and '-'"),  # a mark cannot start a tag
        (7, "must be text"),
    ],
)
def test_a_malformed_tag_is_refused_saying_why(given, says):
    assert says in refusal(labels.tag, given)


def test_a_tag_of_exactly_40_characters_is_accepted():
    assert labels.tag("a" * 40) == "a" * 40


def test_tags_keep_their_order_and_lose_their_duplicates():
    assert labels.tags(["Cat", "dog", "CAT", "black cat", "black_cat"]) == ["cat", "dog", "black-cat"]


def test_twenty_tags_are_accepted_and_twenty_one_are_refused():
    assert len(labels.tags([f"t{i}" for i in range(20)])) == 20
    assert "at most 20" in refusal(labels.tags, [f"t{i}" for i in range(21)])


def test_duplicates_do_not_count_against_the_limit():
    assert labels.tags(["same"] * 40 + [f"t{i}" for i in range(19)]) == ["same", *(f"t{i}" for i in range(19))]


def test_ten_thousand_tags_are_refused_before_any_is_looked_at():
    hostile = ["a" * 10_000] * 10_000  # each would be a refusal of its own if it were read
    started = time.perf_counter()
    assert "Too many tags" in refusal(labels.tags, hostile)
    assert time.perf_counter() - started < 0.5  # the task asks for "quickly": no per-tag work


def test_the_form_field_is_a_comma_separated_list_and_may_be_repeated():
    assert labels.tags_from_form(["cat, dog,,", "Bird ,cat"]) == ["cat", "dog", "bird"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("cat pic", ["cat", "pic"]),
        ("l'été, à Paris!", ["l", "été", "à", "paris"]),
        ("हिन्दी फ़िल्म", ["हिन्दी", "फ़िल्म"]),
        ("snake_case", ["snake", "case"]),
        ("\u0301x", ["x"]),
        ("*** ()", []),
    ],
)
def test_the_words_of_a_search_are_letters_digits_and_the_marks_inside_them(text, words):
    assert labels.words(text.lower()) == words


@pytest.mark.parametrize(
    "query, expression",
    [
        ("cat", '"cat"*'),
        ("Cat pic", '"cat" "pic"*'),
        ("cat ", '"cat"'),
        ('a" OR b NEAR(c) *', '"a" "or" "b" "near" "c"*'),
        ("हिन्दी", '"हिन्दी"*'),
    ],
)
def test_a_search_becomes_quoted_words_the_last_a_prefix(query, expression):
    assert index_sqlite.fts5_expression(search.search_terms(query)) == expression


@pytest.mark.parametrize(
    "query, expression",
    [
        ("cat", "'cat':*"),
        ("Café pic ", "'cafe' & 'pic'"),
        ("a' & !b | c:*", "'a' & 'b' & 'c':*"),
        ("हिन्दी", "'हिन्दी':*"),
    ],
)
def test_a_search_becomes_quoted_lexemes_for_postgresql_without_accents_the_last_a_prefix(query, expression):
    assert index_postgres.tsquery_expression(search.search_terms(query)) == expression


@pytest.mark.parametrize("query", ["   ", None])
def test_no_query_or_only_spaces_is_no_search(query):
    assert search.search_terms(query) is None


@pytest.mark.parametrize(
    "query, says", [("?!", "no letters or digits"), ("x" * 201, "at most 200"), ("a " * 11, "at most 10")]
)
def test_a_search_without_words_or_over_its_limits_is_refused(query, says):
    assert says in refusal(search.search_terms, query)


@pytest.mark.parametrize(
    "name, value, moment",
    [
        ("since", "2026-11-27", "2026-11-27T00:00:00.000Z"),
        ("until", "2026-11-27", "2026-11-28T00:00:00.000Z"),  # the whole day
        ("since", "2026-11-27T08:30Z", "2026-11-27T08:30:00.000Z"),
        ("since", "2026-11-27T08:30:00+02:00", "2026-11-27T06:30:00.000Z"),
        ("until", "2026-11-27T08:30:00.5Z", "2026-11-27T08:30:00.500Z"),
    ],
)
def test_since_and_until_take_iso_dates_and_date_times_in_utc(name, value, moment):
    assert search._moment(name, value, end_of_day=name == "until") == moment


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-11-27T08:30",  # no zone
        "27/11/2026",
        "9999-12-31T23:59:00-01:00",  # past year 9999 in UTC
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    ],
)
def test_a_since_or_until_that_is_not_an_iso_moment_is_refused(value):
    for name in ("since", "until"):
        assert f"'{name}' must be an ISO date" in refusal(search._moment, name, value, end_of_day=False)


def test_until_the_last_day_of_year_9999_is_refused_rather_than_overflowing():
    assert "'until' must be an ISO date" in refusal(search._moment, "until", "9999-12-31", end_of_day=True)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30s", 30),
        ("15m", 900),
        ("1h", 3600),
        ("7d", 604800),
        (" 2D ", 172800),
        ("never", None),
        ("36500d", 36500 * 86400),
    ],
)
def test_a_duration_is_a_number_and_a_unit_or_never(text, seconds):
    assert durations.seconds_of(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "0s", "1.5h", "-1d", "1w", "1 h", "36501d", "3000000d", "forever"])
def test_anything_else_is_not_a_duration(text):
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        durations.seconds_of(text)


def test_an_expiry_of_more_than_a_hundred_years_is_refused_not_swept_at_once():
    config = load_config({}, env_file=None)
    assert "at most 36500d" in refusal(expiry.expires_at, "3000000d", config)


def test_an_expiry_is_an_iso_moment_after_now():
    config = load_config({}, env_file=None)
    assert expiry.expires_at("1h", config, now=0) == "1970-01-01T01:00:00.000Z"
    assert expiry.expires_at("36500d", config, now=time.time()) < "2127"
    assert expiry.expires_at("never", config) is None
    assert expiry.expires_at(None, config) is None


def test_default_expiry_applies_when_the_upload_asks_nothing():
    config = load_config({"DEFAULT_EXPIRY": "1h", "MAX_EXPIRY": "1d"}, env_file=None)
    assert expiry.expires_at(None, config, now=0) == "1970-01-01T01:00:00.000Z"
    assert expiry.expires_at("  ", config, now=0) == "1970-01-01T01:00:00.000Z"


@pytest.mark.parametrize("asked", ["2d", "never"])
def test_more_than_max_expiry_is_refused_naming_the_limit(asked):
    config = load_config({"DEFAULT_EXPIRY": "1h", "MAX_EXPIRY": "1d"}, env_file=None)
    assert "at most 1d" in refusal(expiry.expires_at, asked, config)


def test_a_default_expiry_longer_than_max_expiry_does_not_start():
    with pytest.raises(ConfigError, match="DEFAULT_EXPIRY"):
        load_config({"DEFAULT_EXPIRY": "2d", "MAX_EXPIRY": "1d"}, env_file=None)
