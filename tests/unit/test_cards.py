"""The link cards of the image and album pages (pages.py): whatever a person writes in a
title or description, the card is the same set of tags, and a parser reads back exactly
the text that was stored."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from imagehost import labels, pages
from imagehost.index import ImageRecord


class CardReader(HTMLParser):
    """Collects the card's elements: (tag, attributes) in order, and the <title> text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def record(title: str, description: str) -> ImageRecord:
    return ImageRecord(
        1, "AbCdEfGhIjKlMnOp.png", "image/png", 10, 4, 3, "0" * 64, "a.png", "2026-11-27T00:00:00.000Z", None,
        "ready", title, description,
    )  # fmt: skip


def card_of(title: str, description: str) -> CardReader:
    response = pages._card(
        title=title, description=description, page_url="http://h/i/x", image=record(title, description), base="http://h"
    )
    reader = CardReader()
    reader.feed(response.body.decode("utf-8"))
    reader.close()
    return reader


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=400))
def test_any_title_and_description_give_the_same_tags_and_read_back_as_stored(raw_title, raw_description):
    title = labels.clean_text(raw_title)[: labels.MAX_TITLE] or "An image"
    description = labels.clean_text(raw_description, keep_line_breaks=True)[:200] or "4 × 3"
    card = card_of(title, description)
    assert [tag for tag, _ in card.elements] == ["title"] + ["meta"] * 15
    assert card.title == f"{title} · imagehost"
    metas = {attrs.get("property") or attrs.get("name"): attrs["content"] for _, attrs in card.elements[1:]}
    assert len(metas) == 15
    assert metas["og:title"] == metas["twitter:title"] == metas["og:image:alt"] == title
    assert metas["og:description"] == metas["twitter:description"] == description


def test_markup_in_a_title_is_text_in_the_card():
    card = card_of('"><script>alert(1)</script><meta property="og:image" content="http://evil/">', "&amp;")
    assert [tag for tag, _ in card.elements].count("script") == 0
    images = [attrs["content"] for _, attrs in card.elements if attrs.get("property") == "og:image"]
    assert images == ["http://h/images/AbCdEfGhIjKlMnOp.png"]
    assert card.title.startswith('"><script>alert(1)</script>')


def test_a_long_description_is_cut_to_300_characters_in_the_card():
    card = card_of("t", "x" * 1000)
    description = next(attrs["content"] for _, attrs in card.elements if attrs.get("property") == "og:description")
    assert description == "x" * 299 + "…"
