"""Types shared by the API's request and response schemas.

Text fields refuse NUL and lone surrogates (neither can be stored: PostgreSQL refuses
NUL, and a surrogate cannot be encoded), amounts and ids are strict integers in range
(`true`, `5.0` and `"5"` are not amounts), so odd input is a 422, never a 500."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, Field, StrictInt, StringConstraints

from ledger.plans import MAX_AMOUNT

ID_MAX = 2**63 - 1


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text cannot contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def text(max_length: int, min_length: int = 0):
    return Annotated[
        str,
        StringConstraints(max_length=max_length, min_length=min_length),
        AfterValidator(_storable),
    ]


Id = Annotated[StrictInt, Field(ge=1, le=ID_MAX)]
# In a path or query string every value is text: "5" is the id 5 there.
PathId = Annotated[int, Field(ge=1, le=ID_MAX)]
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Reason = text(255, 1)


def _storable_json(value):
    if value is not None:
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
            encoded.encode("utf-8")
        except (TypeError, ValueError, UnicodeEncodeError):
            raise ValueError("context must be JSON of valid Unicode") from None
        if "\x00" in encoded or "\\u0000" in encoded:
            raise ValueError("context cannot contain NUL")
    return value


Context = Annotated[dict[str, Any] | None, AfterValidator(_storable_json)]


class Page(Schema):
    """A page of a list; `next_cursor` fetches the next one (null: none)."""

    next_cursor: str | None


class Created(Schema):
    created_at: datetime
