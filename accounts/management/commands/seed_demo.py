"""`manage.py seed_demo [--members N] [--once]`: realistic demo members, through the actions."""

from __future__ import annotations

import random

from django.core.management.base import BaseCommand, CommandError
from rich.progress import Progress

from accounts.actions import register_member, start_subscription
from accounts.models import Identity, Platform, Tier

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


class Command(BaseCommand):
    help = "Create demo members through the actions (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=200, help="How many (default 200).")
        parser.add_argument(
            "--once", action="store_true", help="Do nothing if demo members already exist."
        )

    def handle(self, *args, members: int, once: bool, **options):
        if members < 1:
            raise CommandError("--members must be at least 1")
        if once and Identity.objects.filter(external_id__startswith="demo-").exists():
            self.stdout.write("Demo data already loaded.")
            return
        rng = random.Random(2026)  # the same people every time: reruns find them registered
        created = 0
        codes: list[str] = []
        with Progress(transient=True) as progress:
            task = progress.add_task("Registering demo members", total=members)
            for n in range(1, members + 1):
                created += self.register_one(n, rng, codes)
                progress.advance(task)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo members: {created} created, {members - created} already there."
            )
        )

    def register_one(self, n: int, rng: random.Random, codes: list[str]) -> int:
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
            external_id=f"demo-{n}",
            username=f"{first} {last}",
            email=email,
            referral_code=referral,
        )
        member = registration.member
        codes.append(member.referral_code)
        if registration.created and subscribes:
            start_subscription(member, tier=tier)
        return int(registration.created)
