"""The listing's filters, read from its query string: `q`, `tag`, `type`, `since`, `until`.

`q` becomes its words only (letters and digits, any script), all required, the last one
also as a prefix (so a search box can search while typing): each index engine makes its
own query of those words, so nothing a person types is read as query syntax and no
query can fail to parse.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from . import labels
from .errors import BadRequest
from .index import ListingFilter, SearchTerms
from .validation import ACCEPTED_TYPES
from .web import Request

MAX_QUERY = 200
MAX_WORDS = 10
_TYPES = {t.mime: t.mime for t in ACCEPTED_TYPES} | {t.extension[1:]: t.mime for t in ACCEPTED_TYPES}
_TYPES["jpeg"] = "image/jpeg"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def listing_filter(request: Request) -> ListingFilter:
    """The conditions of a listing request; BadRequest naming the parameter that is wrong."""
    tags = request.query_values("tag")
    if len(tags) > labels.MAX_TAGS:
        raise BadRequest(f"Filter by at most {labels.MAX_TAGS} tags.")
    return ListingFilter(
        search=search_terms(request.query_value("q")),
        tags=tuple(dict.fromkeys(labels.tag(value) for value in tags)),
        type=_type(request.query_value("type")),
        since=_moment("since", request.query_value("since"), end_of_day=False),
        until=_moment("until", request.query_value("until"), end_of_day=True),
    )


def search_terms(query: str | None) -> SearchTerms | None:
    """`Cat pic` -> the words cat and pic, pic also as a prefix (`cat pic ` -> not);
    None for no query or only white space. BadRequest for a query over the limits or
    without a letter or digit."""
    if query is None or not query.strip():
        return None
    if len(query) > MAX_QUERY:
        raise BadRequest(f"'q' is {len(query)} characters long: search with at most {MAX_QUERY}.")
    words = labels.words(labels.clean_text(query).lower())
    if not words:
        raise BadRequest("'q' has no letters or digits to search for.")
    if len(words) > MAX_WORDS:
        raise BadRequest(f"'q' has {len(words)} words: search with at most {MAX_WORDS}.")
    return SearchTerms(tuple(words), last_is_prefix=not query.endswith(" "))


def _type(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    mime = _TYPES.get(value.strip().lower())
    if mime is None:
        raise BadRequest(f"'type' must be one of {', '.join(t.mime for t in ACCEPTED_TYPES)} (or png, jpg, ...).")
    return mime


def _moment(name: str, value: str | None, *, end_of_day: bool) -> str | None:
    """An ISO date or date-time as the index writes created_at (UTC, milliseconds). A
    date for `until` means the end of that day."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
            if end_of_day:
                moment += timedelta(days=1)
        elif _DATE_TIME.fullmatch(text):
            moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        else:
            raise ValueError(text)
    except (ValueError, OverflowError):  # OverflowError: a moment past year 9999 or before year 1 in UTC
        raise BadRequest(
            f"'{name}' must be an ISO date (2026-11-27) or date and time (2026-11-27T08:30:00Z); got {text[:40]!r}."
        ) from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
