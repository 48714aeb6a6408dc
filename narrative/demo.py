"""The demo story `seed_demo` loads: branches, three characters, locked chapters and five
endings. Also what the benchmark and the browser tests play."""

from __future__ import annotations

from narrative.actions import create_story
from narrative.models import Story

SLUG = "lighthouse"

CHAPTERS = [
    {
        "number": 1,
        "title": "A light in the storm",
        "content": "The lamp gutters. Far out, a ship's bell rings against the rocks.",
        "choices": [
            {
                "text": "Row out to the wreck",
                "to": 2,
                "reward": 10,
                "impacts": {"Mira": 10},
            },
            {
                "text": "Keep the lamp burning",
                "to": 3,
                "reward": 5,
                "impacts": {"Mira": 5, "Theo": -5},
            },
        ],
    },
    {
        "number": 2,
        "title": "The wreck",
        "content": "A sailor clings to a crate stamped with the harbour master's seal.",
        "choices": [
            {"text": "Save the sailor", "to": 4, "reward": 20, "impacts": {"Theo": 15}},
            {
                "text": "Take the cargo",
                "to": 5,
                "reward": 30,
                "impacts": {"Theo": -10, "Harbour Master": 10},
            },
        ],
    },
    {
        "number": 3,
        "title": "The long night",
        "content": "Someone is signalling from the cliffs with a shuttered lantern.",
        "choices": [
            {"text": "Signal the harbour", "to": 5, "impacts": {"Harbour Master": 10}},
            {"text": "Climb to the lamp room", "to": 4, "reward": 5, "impacts": {"Mira": 10}},
        ],
    },
    {
        "number": 4,
        "title": "The sailor's secret",
        "content": "Theo says the crates hold the village's stolen savings.",
        "unlock": {"min_balance": 50, "currency": "points"},
        "choices": [
            {
                "text": "Trust him",
                "ending": "A new dawn",
                "reward": 50,
                "impacts": {"Theo": 20},
            },
            {
                "text": "Turn him in",
                "ending": "The harbour's gratitude",
                "reward": 25,
                "impacts": {"Harbour Master": 20, "Theo": -20},
            },
        ],
    },
    {
        "number": 5,
        "title": "The harbour master",
        "content": "The harbour master knows more than he says about the wreck.",
        "choices": [
            {
                "text": "Confess everything",
                "ending": "A clean conscience",
                "reward": 15,
                "impacts": {"Harbour Master": -5, "Mira": 5},
            },
            {"text": "Say nothing", "to": 6, "impacts": {"Harbour Master": -10}},
        ],
    },
    {
        "number": 6,
        "title": "Below the lighthouse",
        "content": "A door under the stairs, locked for as long as anyone remembers.",
        "vip_only": True,
        "choices": [
            {
                "text": "Open the door",
                "ending": "What the sea keeps",
                "reward": 100,
                "impacts": {"Mira": 20},
            },
            {
                "text": "Leave it shut",
                "ending": "Some doors stay closed",
                "impacts": {"Mira": -5},
            },
        ],
    },
]


def load_demo_story(*, actor=None) -> Story:
    """The demo story, created and published if it is not there yet."""
    existing = Story.objects.filter(slug=SLUG).first()
    if existing is not None:
        return existing
    return create_story(
        title="The Lighthouse Keeper",
        slug=SLUG,
        currency="points",
        description="A storm, a wreck and a keeper who must decide whom to trust.",
        characters=["Mira", "Theo", "Harbour Master"],
        chapters=CHAPTERS,
        published=True,
        actor=actor,
    )
