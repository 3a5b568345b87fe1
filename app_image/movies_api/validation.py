"""Request validation: every failure is one line naming the field, the value and the rule."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .seed import GENRES

MAX_BIGINT = 2**63 - 1
MOVIE_FIELDS = ("title", "year", "genres", "runtime_minutes", "rating", "overview")
# The OpenAPI pattern; used with fullmatch (`$` alone would also match before a final "\n").
_GENRE = re.compile(r"[a-z][a-z-]{0,29}")
# ASCII digits only: `\d` also takes Arabic-Indic and fullwidth digits, which int() reads.
_INTEGER = re.compile(r"-?[0-9]{1,20}")


class ValidationError(ValueError):
    """Bad request input, answered with 422 (or 400 for an unreadable body)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text(field: str, value: Any, lo: int, hi: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field}={_short(value)} must be a string of {lo}..{hi} chars")
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{field} is not valid Unicode text") from None
    if not lo <= len(value) <= hi:
        raise ValidationError(f"{field} has {len(value)} chars; allowed {lo}..{hi}")
    return value


def integer(field: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field}={_short(value)} must be an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise ValidationError(f"{field}={value} is out of range; allowed {lo}..{hi}")
    return value


def number(field: str, value: Any, lo: int, hi: int) -> float:
    """A finite JSON number in lo..hi, to one decimal.

    The range is checked on the value as parsed, before any conversion: `1` and 400 zeros
    is a Python int that float() cannot hold (OverflowError was a 500, issue 22 item 5).
    """
    # int vs int or float vs int compare exactly in Python: no conversion, no overflow.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or not lo <= value <= hi
    ):
        raise ValidationError(f"{field}={_short(value)} must be a number in {lo}..{hi}")
    return round(float(value), 1)


def int_param(field: str, raw: str, lo: int, hi: int) -> int:
    if not _INTEGER.fullmatch(raw):
        raise ValidationError(f"{field}={_short(raw)} must be an integer in {lo}..{hi}")
    return integer(field, int(raw), lo, hi)


def movie_id(raw: str) -> int:
    return int_param("id", raw, 1, MAX_BIGINT)


def genre(field: str, value: Any) -> str:
    value = text(field, value, 1, 30)
    if value not in GENRES and not _GENRE.fullmatch(value):
        raise ValidationError(
            f"{field}={_short(value)} must be lowercase letters and '-', e.g. {GENRES[0]}"
        )
    return value


@dataclass(frozen=True)
class MovieInput:
    title: str
    year: int
    genres: list[str]
    runtime_minutes: int | None
    rating: float | None
    overview: str


def movie_body(body: Any) -> MovieInput:
    if not isinstance(body, Mapping):
        raise ValidationError("body must be a JSON object with title and year")
    unknown = sorted(set(body) - set(MOVIE_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; allowed: {', '.join(MOVIE_FIELDS)}")
    for required in ("title", "year"):
        if required not in body:
            raise ValidationError(f"field {required!r} is required")
    title = text("title", body["title"], 1, 300)
    # The spec's pattern says the same with \S (Python's re and str.isspace agree on it).
    if not re.search(r"\S", title):
        raise ValidationError("title must not be blank")
    genres_raw = body.get("genres", [])
    if not isinstance(genres_raw, list) or len(genres_raw) > 10:
        raise ValidationError(f"genres={_short(genres_raw)} must be a list of at most 10 genres")
    genres = sorted({genre("genres[]", g) for g in genres_raw})
    runtime = body.get("runtime_minutes")
    if runtime is not None:
        runtime = integer("runtime_minutes", runtime, 1, 1000)
    rating = body.get("rating")
    if rating is not None:
        rating = number("rating", rating, 0, 10)
    return MovieInput(
        title=title,
        year=integer("year", body["year"], 1870, 2100),
        genres=genres,
        runtime_minutes=runtime,
        rating=rating,
        overview=text("overview", body.get("overview", ""), 0, 5000),
    )


@dataclass(frozen=True)
class SearchParams:
    q: str | None
    genre: str | None
    year: int | None
    page: int

    def cache_key(self) -> str:
        return f"q={self.q or ''}&genre={self.genre or ''}&year={self.year or ''}&page={self.page}"


def search_params(params: Mapping[str, str], max_page: int) -> SearchParams:
    """As the OpenAPI spec says: an absent parameter is no filter, an empty one is invalid
    (except `q`, a string that may be empty), genres are lowercase as stored."""
    q = params.get("q")
    if q is not None:
        # q only goes to websearch_to_tsquery, never into a row: NUL (which PostgreSQL text
        # cannot carry) separates words like any other space.
        q = " ".join(text("q", q.replace("\x00", " "), 0, 200).split()).lower() or None
    g_raw = params.get("genre")
    g = genre("genre", g_raw) if g_raw is not None else None
    year_raw = params.get("year")
    year = int_param("year", year_raw, 1870, 2100) if year_raw is not None else None
    page_raw = params.get("page")
    page = int_param("page", page_raw, 1, max_page) if page_raw is not None else 1
    return SearchParams(q, g, year, page)
