from __future__ import annotations

from config.errors import Refusal


class NarrativeError(Refusal):
    """Base error of the narrative app; every refusal of a narrative action is one."""


class InvalidRequest(NarrativeError, ValueError):
    """A malformed argument: an unsaved member, a choice or story that does not exist."""


class InvalidStory(NarrativeError, ValueError):
    """A story that cannot be played as written: a choice leading nowhere or out of the
    story, a chapter no path reaches, a loop, an impact that can push a level out of range.

    `problems` lists each one in words."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class StoryNotPublished(NarrativeError):
    """The story is not published: members cannot start or play it."""


class NotStarted(NarrativeError):
    """The member has not started the story (`start_story` first)."""


class NotCurrentChapter(NarrativeError):
    """The chapter is not where the member is in the story (they have not reached it, or
    they have moved on)."""


class ChapterLocked(NarrativeError):
    """The member may not play the chapter yet. `rule` names the unmet rule: `vip`,
    `min_balance` or `subscription`."""

    def __init__(self, message: str, *, rule: str):
        super().__init__(message)
        self.rule = rule


class ChapterAlreadyDecided(NarrativeError):
    """The member made another choice in this chapter; a decision is recorded once.
    `decision` is the one recorded."""

    def __init__(self, message: str, *, decision=None):
        super().__init__(message)
        self.decision = decision


class RelationshipOutOfRange(NarrativeError):
    """The choice would push a relationship level past its bounds."""
