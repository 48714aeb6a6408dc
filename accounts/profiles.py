"""The schemas of a profile's JSON: `preferences` and `personality` (docs/PROFILES.md).

Pydantic models, so one definition validates (`accounts.actions.update_profile`) and
documents (`Preferences.model_json_schema()`, printed in docs/PROFILES.md; a test holds
the page to it). Every key is optional; unknown keys are refused, so a typo is an error,
not a silent new setting.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

Dimension = Annotated[int, Field(ge=0, le=100, strict=True)]


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database's files: once


class Preferences(BaseModel):
    """What a member chose about how bots talk to them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    notifications: bool | None = Field(None, description="Bots may message the member first.")
    daily_reminder: bool | None = Field(None, description="A reminder to keep a streak.")
    spoilers: bool | None = Field(None, description="Show story outcomes before choosing.")
    theme: Literal["light", "dark", "system"] | None = None
    timezone: str | None = Field(None, description="An IANA time zone, e.g. Europe/Berlin.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None and value not in _timezones():
            raise ValueError(f"unknown time zone {value!r}")
        return value


class Personality(BaseModel):
    """Personality dimensions (the Big Five), each a whole number from 0 to 100."""

    model_config = ConfigDict(extra="forbid", strict=True)

    openness: Dimension | None = None
    conscientiousness: Dimension | None = None
    extraversion: Dimension | None = None
    agreeableness: Dimension | None = None
    neuroticism: Dimension | None = None


def schema_text(model: type[BaseModel]) -> str:
    """`model`'s JSON schema as docs/PROFILES.md prints it."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
