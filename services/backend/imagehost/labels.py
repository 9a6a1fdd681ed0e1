"""What people write about an image or an album: title, description, tags.

One place for their limits and their normalisation, used by the upload form, by PATCH,
by the album routes and by the listing's tag filter:

- Text is Unicode-normalised (NFC) and stripped of control characters (a description
  keeps its line breaks and tabs) and of the bidirectional embedding, override and
  isolate characters (U+202A-U+202E, U+2066-U+2069), which could make a title display
  as something else; then trimmed. It is stored and returned as given otherwise, and
  never interpreted as HTML: whoever shows it escapes it.
- A tag is NFKC-normalised, lower-cased, its spaces and underscores become `-`; it must
  then be 1-40 letters, digits and `-` (any script's letters and digits, with the
  combining marks that scripts such as Devanagari or Thai write their words with; a
  mark cannot start a tag). Duplicates go.

Each limit is checked after normalisation; a value over it is a BadRequest that says
which field and the limit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from .errors import BadRequest

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_TAGS = 20
MAX_TAG = 40

_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TAG_SEPARATORS = re.compile(r"[\s_]+")


def clean_text(value: str, *, keep_line_breaks: bool = False) -> str:
    """NFC, without control characters (but line breaks and tabs when asked) and bidi
    controls, trimmed."""
    value = unicodedata.normalize("NFC", value)
    kept = []
    for char in value:
        if char in _BIDI_CONTROLS:
            continue
        if unicodedata.category(char) == "Cc" and not (keep_line_breaks and char in "\n\t"):
            continue
        kept.append(char)
    return "".join(kept).replace("\r", "").strip()


def title(value: object) -> str:
    return _limited_text("title", value, MAX_TITLE, keep_line_breaks=False)


def description(value: object) -> str:
    return _limited_text("description", value, MAX_DESCRIPTION, keep_line_breaks=True)


def _limited_text(field: str, value: object, limit: int, *, keep_line_breaks: bool) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"'{field}' must be text.")
    cleaned = clean_text(value, keep_line_breaks=keep_line_breaks)
    if len(cleaned) > limit:
        raise BadRequest(f"The {field} is {len(cleaned)} characters long: at most {limit} are allowed.")
    return cleaned


def tag(value: object) -> str:
    """One tag, normalised; BadRequest naming it when it is empty, too long or malformed."""
    if not isinstance(value, str):
        raise BadRequest("Each tag must be text.")
    normalised = _TAG_SEPARATORS.sub("-", unicodedata.normalize("NFKC", clean_text(value)).lower()).strip("-")
    shown = normalised[:50] + ("…" if len(normalised) > 50 else "")
    if not normalised:
        raise BadRequest("A tag is empty: each tag needs 1 to 40 letters, digits or '-'.")
    if len(normalised) > MAX_TAG:
        raise BadRequest(f"The tag '{shown}' is {len(normalised)} characters long: at most {MAX_TAG} are allowed.")
    if not _is_tag(normalised):
        raise BadRequest(
            f"The tag '{shown}' may hold only letters, digits and '-' (it must start with one of the first two)."
        )
    return normalised


def _is_tag(text: str) -> bool:
    return text[0].isalnum() and all(char == "-" or _is_word_char(char, True) for char in text)


def _is_word_char(char: str, inside_word: bool) -> bool:
    """A letter or digit of any script, or (inside a word) a combining mark: Python's
    `\\w` has no marks, which would cut हिन्दी into ह, न, द."""
    return char.isalnum() or (inside_word and unicodedata.category(char).startswith("M"))


def words(text: str) -> list[str]:
    """The words of `text`: runs of letters, digits and combining marks (as SQLite's
    unicode61 tokenizer cuts them), each starting with a letter or digit."""
    found: list[str] = []
    current: list[str] = []
    for char in text:
        if _is_word_char(char, bool(current)):
            current.append(char)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def tags(values: Sequence[object]) -> list[str]:
    """Normalised tags in their order, without duplicates; BadRequest when there are more
    than MAX_TAGS (a list of thousands is refused before any is looked at)."""
    too_many = BadRequest(f"Too many tags: at most {MAX_TAGS} per image.")
    if len(values) > MAX_TAGS * 4:
        raise too_many
    found: list[str] = []
    for value in values:
        normalised = tag(value)
        if normalised not in found:
            found.append(normalised)
    if len(found) > MAX_TAGS:
        raise too_many
    return found


def tags_from_form(fields: Iterable[str]) -> list[str]:
    """The tags of the upload form's `tags` fields: each a comma-separated list."""
    return tags([item for field in fields for item in field.split(",") if item.strip()])
