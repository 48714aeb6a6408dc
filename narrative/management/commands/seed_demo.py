"""`manage.py seed_demo [--members N] [--once]`: realistic demo data, through the actions.

Tournaments too: one in each state (`tournaments.demo`; with at least 8 members), so
every page has something on first run.

Members (accounts), then their ledger life: quiz awards, paid readings, gifts between
members, daily streaks and achievements; then the demo story (`narrative.demo`) with a
third of the members partway or all the way through it. The command lives in the highest
app that has demo data (it moves up as apps arrive)."""

from __future__ import annotations

import contextlib
import random
from datetime import timedelta

from django.core.management.base import CommandError
from django.utils import timezone
from rich.progress import Progress

from accounts.actions import register_member, start_subscription
from accounts.models import NUMERIC_PLATFORMS, Identity, Member, Platform, Tier
from config.commands import ConcordCommand
from ledger import actions as ledger
from ledger.exceptions import InsufficientFunds
from ledger.models import Achievement, AchievementRule, Currency
from narrative.actions import make_choice, start_story
from narrative.demo import load_demo_story
from narrative.exceptions import ChapterLocked
from narrative.models import Choice
from tournaments.demo import load_demo_tournaments

FIRST = [
    "Ava",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
]
LAST = [
    "Ng",
    "Okafor",
    "Silva",
    "Kowalski",
    "Haddad",
    "Ito",
    "Müller",
    "Novak",
    "Reyes",
    "Sato",
    "Larsen",
    "Dubois",
    "Kim",
    "Costa",
    "Singh",
    "Ferrari",
]
DOMAINS = ["gmail.com", "outlook.com", "proton.me", "example.org", "fastmail.com"]


# Demo people's ids: Telegram and Discord ids are numbers (accounts'
# `accounts_identity_numeric_external_id`), from a range no real account uses yet;
# web ids say what they are. Migration accounts 0008 moved older `demo-N` ids here.
DEMO_NUMERIC_BASE = 990_000_000_000


def demo_id(platform: str, n: int) -> str:
    return str(DEMO_NUMERIC_BASE + n) if platform in NUMERIC_PLATFORMS else f"demo-{n}"


def demo_ids(n: int) -> list[str]:
    """Demo person `n`'s id on whichever platform they were drawn on."""
    return [demo_id(Platform.TELEGRAM, n), demo_id(Platform.WEB, n)]


class Command(ConcordCommand):
    help = "Create demo members through the actions (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=200, help="How many (default 200).")
        parser.add_argument(
            "--once", action="store_true", help="Do nothing if demo members already exist."
        )

    def handle(self, *args, members: int, once: bool, **options):
        if members < 1:
            raise CommandError("--members must be at least 1")
        if once and Identity.objects.filter(external_id__in=demo_ids(1)).exists():
            load_demo_story()  # a database seeded before the story existed gets it too
            self.stdout.write("Demo data already loaded.")
            return
        rng = random.Random(2026)  # the same people every time: reruns find them registered
        created = 0
        codes: list[str] = []
        people: list[Member] = []
        self.achievements()
        with Progress(transient=True) as progress:
            task = progress.add_task("Registering demo members", total=members)
            for n in range(1, members + 1):
                created += self.register_one(n, rng, codes, people)
                progress.advance(task)
            task = progress.add_task("Points, readings and streaks", total=members)
            for n, member in enumerate(people, start=1):
                self.ledger_life(n, member, rng, people)
                progress.advance(task)
            load_demo_tournaments(people)
            story = load_demo_story()
            task = progress.add_task("Reading the demo story", total=members)
            for member in people:
                self.read_story(member, story, rng)
                progress.advance(task)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo members: {created} created, {members - created} already there."
            )
        )

    def register_one(
        self, n: int, rng: random.Random, codes: list[str], people: list[Member]
    ) -> int:
        # Every draw happens whatever the outcome, so a rerun meets the same people.
        first, last = rng.choice(FIRST), rng.choice(LAST)
        platform = rng.choice(
            [Platform.TELEGRAM, Platform.TELEGRAM, Platform.DISCORD, Platform.WEB]
        )
        domain, with_email = rng.choice(DOMAINS), rng.random() < 0.6
        referrer_index, with_referral = rng.randrange(max(len(codes), 1)), rng.random() < 0.3
        tier, subscribes = rng.choice(Tier.values), rng.random() < 0.15
        email = f"{first}.{last}{n}@{domain}" if with_email else None
        referral = codes[referrer_index] if codes and with_referral else None
        registration = register_member(
            platform=platform,
            external_id=demo_id(platform, n),
            username=f"{first} {last}",
            email=email,
            referral_code=referral,
        )
        member = registration.member
        codes.append(member.referral_code)
        people.append(member)
        if registration.created and subscribes:
            start_subscription(member, tier=tier)
        return int(registration.created)

    def achievements(self) -> None:
        points = Currency.objects.get(code="points")
        for code, name, rule, threshold, reward in [
            ("rich-300", "Treasure hunter", AchievementRule.BALANCE, 300, 25),
            ("streak-3", "Three days running", AchievementRule.STREAK, 3, 30),
            ("streak-7", "A whole week", AchievementRule.STREAK, 7, 100),
            ("helper", "Community helper", AchievementRule.GRANTED, None, 50),
        ]:
            Achievement.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "rule": rule,
                    "threshold": threshold,
                    "reward_amount": reward,
                    "reward_currency": points,
                    "category": "demo",
                },
            )

    def ledger_life(self, n: int, member: Member, rng: random.Random, people: list[Member]):
        """A few weeks of one member's activity; fixed keys make a rerun replay it."""
        quizzes, readings = rng.randrange(0, 6), rng.randrange(0, 3)
        friend, gift = rng.choice(people), rng.randrange(5, 40)
        active_days = sorted(rng.sample(range(1, 15), rng.randrange(0, 10)))
        helper = rng.random() < 0.1
        for q in range(quizzes):
            ledger.award(
                member,
                rng.choice([10, 20, 50]),
                reason="Quiz answer",
                idempotency_key=f"demo:{n}:quiz:{q}",
            )
        for r in range(readings):
            with contextlib.suppress(InsufficientFunds):
                ledger.spend(
                    member,
                    30,
                    sink="reading",
                    reason="Tarot reading",
                    idempotency_key=f"demo:{n}:reading:{r}",
                )
        if friend.pk != member.pk:
            with contextlib.suppress(InsufficientFunds):
                ledger.transfer(
                    member, friend, gift, reason="A gift", idempotency_key=f"demo:{n}:gift"
                )
        # Days counted back from registration, so a rerun (on any day) replays them.
        joined = timezone.localdate(member.created_at)
        for day in active_days:
            ledger.record_activity(member, joined - timedelta(days=14 - day))
        if helper:
            ledger.grant_achievement(member, Achievement.objects.get(code="helper"))

    def read_story(self, member: Member, story, rng: random.Random) -> None:
        """A third of the members read the demo story, up to four choices each (a rerun
        finds their decisions and goes the same way: the draws do not depend on them)."""
        reads, steps = rng.random() < 0.35, rng.randrange(1, 5)
        picks = [rng.random() for _ in range(4)]
        if not reads:
            return
        try:
            start_story(member, story)
        except ChapterLocked:
            return
        # From chapter 1 every time: a rerun meets its own decisions (make_choice answers
        # a repeat with the decision) and goes on the same way.
        chapter = Choice.objects.filter(chapter__story=story, chapter__number=1).values_list(
            "chapter_id", flat=True
        )[0]
        for pick in picks[:steps]:
            options = list(Choice.objects.filter(chapter_id=chapter).order_by("position"))
            if not options:
                return
            choice = options[int(pick * len(options))]
            try:
                make_choice(member, choice)
            except ChapterLocked:
                return
            if choice.next_chapter_id is None:
                return
            chapter = choice.next_chapter_id
