"""Every write to progress, decisions and relationships goes through here.

By subject: `playing` (starting a story, `make_choice`: one transaction that claims the
chapter, pays the reward, records the decision and publishes `narrative.decision_made`),
`rules` (what a chapter asks of the member who enters it), `repair` (progress and
relationships rebuilt from the decisions) and `authoring` (writing, checking and
publishing a story). Their SQL is in narrative/sql/. Import from here:
`narrative.actions.make_choice`.
"""

from __future__ import annotations

from accounts.models import PREMIUM_TIERS
from narrative.actions.authoring import (
    SLUG,
    check_story,
    create_story,
    publish_story,
    record_story_change,
)
from narrative.actions.playing import make_choice, reward_key, start_story
from narrative.actions.repair import (
    Rebuilt,
    members_to_rebuild,
    rebuild_member_state,
    rebuild_story,
)
from narrative.actions.rules import unmet_rule

__all__ = [
    "PREMIUM_TIERS",
    "SLUG",
    "Rebuilt",
    "check_story",
    "create_story",
    "make_choice",
    "members_to_rebuild",
    "publish_story",
    "rebuild_member_state",
    "rebuild_story",
    "record_story_change",
    "reward_key",
    "start_story",
    "unmet_rule",
]
