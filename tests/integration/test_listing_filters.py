"""The listing's search and filters through nginx: q, tag, type, since, until, in
combination, refused when malformed, and paged by the keyset cursor while uploads and
deletes happen between pages.

The stack is shared by the module, so each test works under a word and a tag of its own
(`fresh`) and never sees another test's images. Every test runs twice: with the index in
SQLite, then in PostgreSQL (DATABASE_URL, a database of the tests' cluster).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from support import images, labelled
from support.stack import nginx_binary, require, start_stack

pytestmark = pytest.mark.runs_once  # each index engine in turn


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    """The module's stack, with its index in each engine in turn."""
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    settings = {"DATABASE_URL": None}  # SQLite, in every configuration
    if request.param == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("postgres_cluster").new_database()
    with start_stack(tmp_path_factory.mktemp("stack"), **settings) as running:
        # The setting took: a stack that quietly fell back to SQLite would test nothing new.
        assert (running.data_dir / "index.sqlite3").exists() == (request.param == "sqlite")
        yield running


def fresh(prefix: str = "w") -> str:
    """A word no other image has: letters only, so it is one search word and a valid tag."""
    return prefix + "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12))


def listed(stack, **query) -> list[str]:
    """Every name of the filtered listing, newest first, following next_cursor (bounded)."""
    names: list[str] = []
    cursor = None
    for _ in range(100):
        page = stack.get(
            "/api/images?" + urlencode({**query, **({"cursor": cursor} if cursor else {})}, doseq=True), stack.admin()
        )
        assert page.status == 200, page.body
        names += [item["name"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return names
    raise AssertionError("more than 100 pages")


def refused(stack, **query) -> str:
    reply = stack.get("/api/images?" + urlencode(query, doseq=True), stack.admin())
    assert reply.status == 400 and reply.error_code == "bad_request", reply.body
    return reply.json()["error"]["message"]


def name_of(stack, **fields) -> str:
    return labelled.uploaded(stack, **fields)["name"]


# --- q --------------------------------------------------------------------------------------


def test_q_searches_the_title_description_tags_and_original_name(stack):
    word = fresh()
    in_title = name_of(stack, title=f"A {word} at night")
    in_description = name_of(stack, description=f"Seen:\n{word.upper()}.")
    in_tags = name_of(stack, tags=f"other, {word}")
    in_file_name = name_of(stack, filename=f"holiday_{word}_1.png")
    name_of(stack, title=f"{word[:-1]}-not-it")  # a shorter word is not the word
    assert listed(stack, q=f"{word} ") == [in_file_name, in_tags, in_description, in_title]


def test_the_last_word_of_q_is_a_prefix_unless_it_ends_with_a_space(stack):
    word = fresh()
    name = name_of(stack, title=f"{word}fish and chips")
    assert listed(stack, q=word) == [name]
    assert listed(stack, q=f"{word} ") == []
    assert listed(stack, q=f"chi {word}") == []  # only the last word is a prefix
    assert listed(stack, q=f"chips {word}") == [name]


def test_q_ignores_case_and_diacritics(stack):
    word = fresh()
    name = name_of(stack, title=f"Café crème {word}")
    for query in (f"cafe creme {word}", f"CAFÉ {word}", f"{word} crème"):
        assert listed(stack, q=query) == [name], query


def test_q_reads_search_syntax_as_words(stack):
    word = fresh()
    name = name_of(stack, title=f"{word} near or not")
    assert listed(stack, q=f'"{word}" OR NEAR(not*') == [name]
    assert listed(stack, q=f"{word} -near") == [name]


def test_q_finds_words_of_scripts_written_with_combining_marks(stack):
    tag = fresh("t")
    name = name_of(stack, title="हिन्दी फ़िल्म", tags=f"{tag}, हिन्दी")
    assert listed(stack, q="हिन्दी", tag=tag) == [name]
    assert listed(stack, q="फ़िल्", tag=tag) == [name]
    assert listed(stack, tag=["हिन्दी", tag]) == [name]


# --- tag, type, since, until ----------------------------------------------------------------


def test_every_tag_given_must_match(stack):
    x, y = fresh("x"), fresh("y")
    both = name_of(stack, tags=f"{x},{y}")
    only_x = name_of(stack, tags=x)
    only_y = name_of(stack, tags=y)
    assert listed(stack, tag=[x, y]) == [both]
    assert listed(stack, tag=x) == [only_x, both]
    assert listed(stack, tag=y) == [only_y, both]
    assert listed(stack, tag=[x.upper(), f" {y} "]) == [both]  # normalised as on upload


def test_type_takes_a_media_type_or_an_extension(stack):
    tag = fresh("t")
    png = name_of(stack, tags=tag)
    gif = labelled.uploaded(stack, images.gif(3, 3) + uuid.uuid4().bytes, "a.gif", tags=tag)["name"]
    assert gif.endswith(".gif")
    assert listed(stack, tag=tag, type="image/gif") == [gif]
    assert listed(stack, tag=tag, type="PNG") == [png]
    assert listed(stack, tag=tag, type="jpg") == []
    assert listed(stack, tag=tag, type="jpeg") == []


def test_since_and_until_take_dates_and_moments_and_until_a_date_includes_the_day(stack):
    tag = fresh("t")
    created = labelled.uploaded(stack, tags=tag)
    moment = datetime.fromisoformat(created["created_at"].replace("Z", "+00:00"))
    day = moment.date()
    assert listed(stack, tag=tag, since=day.isoformat(), until=day.isoformat()) == [created["name"]]
    assert listed(stack, tag=tag, since=(day + timedelta(days=1)).isoformat()) == []
    assert listed(stack, tag=tag, until=(day - timedelta(days=1)).isoformat()) == []
    before, after = moment - timedelta(seconds=1), moment + timedelta(seconds=1)
    assert listed(stack, tag=tag, since=before.strftime("%Y-%m-%dT%H:%M:%SZ")) == [created["name"]]
    assert listed(stack, tag=tag, until=before.strftime("%Y-%m-%dT%H:%M:%SZ")) == []
    assert listed(stack, tag=tag, until=after.astimezone(UTC).isoformat()) == [created["name"]]
    # The same moment, written in another zone.
    shifted = after.astimezone(datetime.now().astimezone().tzinfo).replace(microsecond=0)
    assert listed(stack, tag=tag, since=shifted.isoformat()) == []


def test_all_filters_combine(stack):
    word, tag, other = fresh(), fresh("t"), fresh("o")
    today = datetime.now(UTC).date()
    wanted = name_of(stack, title=word, tags=f"{tag},{other}")
    name_of(stack, title=word, tags=tag)  # not the other tag
    name_of(stack, title="something else", tags=f"{tag},{other}")  # not the word
    labelled.uploaded(stack, images.gif(2, 2) + uuid.uuid4().bytes, "b.gif", title=word, tags=f"{tag},{other}")
    query = {
        "q": word,
        "tag": [tag, other],
        "type": "png",
        "since": (today - timedelta(days=1)).isoformat(),
        "until": (today + timedelta(days=1)).isoformat(),
    }
    assert listed(stack, **query) == [wanted]
    assert listed(stack, **{**query, "limit": 1}) == [wanted]


@pytest.mark.parametrize(
    "query, says",
    [
        ({"q": "?!"}, "no letters or digits"),
        ({"q": "x" * 201}, "at most 200"),
        ({"q": " ".join("w" * 11)}, "at most 10"),
        ({"q": ["a", "b"]}, "'q'"),
        ({"tag": "c++"}, "only letters, digits and '-'"),
        ({"tag": ""}, "empty"),
        ({"tag": [f"t{i}" for i in range(21)]}, "at most 20 tags"),
        ({"type": "image/bmp"}, "'type' must be one of"),
        ({"type": "svg"}, "'type' must be one of"),
        ({"since": "yesterday"}, "'since' must be an ISO date"),
        ({"since": "2026-11-27T08:30"}, "'since' must be an ISO date"),
        ({"until": "2026-02-30"}, "'until' must be an ISO date"),
        ({"until": "9999-12-31"}, "'until' must be an ISO date"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "'since' must be an ISO date"),
        ({"limit": "0"}, "'limit'"),
        ({"cursor": "abc"}, "'cursor'"),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else None,
)
def test_a_malformed_filter_is_a_400_naming_it(stack, query, says):
    assert says in refused(stack, **query)


def test_a_filter_needs_the_listings_permission(stack):
    reply = stack.get("/api/images?tag=cat")
    assert reply.status == 401 and reply.error_code == "unauthorized"


# --- keyset paging while the listing changes --------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("by", ["tag", "q", "tag and q and type"])
def test_paging_through_a_filtered_listing_while_images_come_and_go_never_repeats_or_skips_one(stack, by, seed):
    """Images that exist throughout (`steady`) appear exactly once each, in order; images
    uploaded or deleted between pages may or may not appear, but never twice."""
    rng = random.Random(f"{by} {seed}")
    word, tag = fresh(), fresh("t")
    query = {"tag": {"tag": tag}, "q": {"q": word}, "tag and q and type": {"tag": tag, "q": word, "type": "png"}}[by]

    def add() -> dict:
        return labelled.uploaded(stack, title=f"{word} {rng.randrange(1000)}", tags=f"{tag}, other")

    steady = [add()["name"] for _ in range(rng.randint(8, 14))]
    coming_and_going = [add() for _ in range(rng.randint(3, 6))]
    labelled.uploaded(stack, title="unrelated", tags="other")  # matches no filter

    seen: list[str] = []
    cursor = None
    for _ in range(50):
        page = stack.get(
            "/api/images?" + urlencode({**query, "limit": rng.randint(1, 4), **({"cursor": cursor} if cursor else {})}),
            stack.admin(),
        ).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Uploads between pages: newer than any page yet, so never on a later one.
        coming_and_going.extend(add() for _ in range(rng.randint(0, 2)))
        if coming_and_going and rng.random() < 0.6:  # a delete between pages
            gone = coming_and_going.pop(rng.randrange(len(coming_and_going)))
            assert stack.request("DELETE", f"/api/images/{gone['name']}", headers=stack.admin()).status == 204
    else:
        raise AssertionError("more than 50 pages")
    assert len(seen) == len(set(seen)), "an image was listed twice"
    assert [name for name in seen if name in steady] == steady[::-1], "a steady image was skipped or out of order"
