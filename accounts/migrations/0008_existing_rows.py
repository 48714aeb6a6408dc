"""Existing rows fixed before the database holds the new rules (0009).

1. Ended subscriptions get `ended_at`: an expired one its expiry (one marked expired
   without an expiry becomes cancelled: expiring is reaching one), a cancelled one the
   migration's time (when it was cancelled was not recorded).
2. `Member.is_premium` (a staff-set VIP flag, a second answer to "premium") goes in 0009:
   premium is what a subscription grants. A member with the flag and no current premium
   subscription gets an open-ended `premium` subscription starting now (a lapsed one is
   expired first; a current basic one is `replaced`), so no VIP reader loses a chapter.
3. Telegram and Discord ids must be the platform's number: a leading-zero id ("042")
   becomes "42" unless "42" is taken; any other id that is not a number stops the
   migration with the list, for staff to decide (`link_identity`/support), since guessing
   could merge two people. Demo people (`seed_demo`'s `demo-N`) get their new demo ids.

A migration of its own: PostgreSQL refuses to alter a table whose rows were written in the
same transaction while their deferred (foreign key) checks are pending. The functions copy
what they need instead of importing the app: a migration keeps doing what it did when it
was written.
"""

import re

import django.utils.timezone
from django.db import migrations, models

NUMERIC = re.compile(r"[1-9][0-9]{0,19}")
DEMO = re.compile(r"demo-([0-9]{1,9})")
DEMO_NUMERIC_BASE = 990_000_000_000


def end_history(apps, schema_editor):
    Subscription = apps.get_model("accounts", "Subscription")
    now = django.utils.timezone.now()
    ended = Subscription.objects.exclude(status="active")
    ended.filter(status="expired", expires_at__isnull=True).update(status="cancelled")
    ended.filter(status="expired").update(ended_at=models.F("expires_at"))
    ended.filter(status="cancelled").update(ended_at=now)


def vip_to_subscriptions(apps, schema_editor):
    Member = apps.get_model("accounts", "Member")
    Subscription = apps.get_model("accounts", "Subscription")
    now = django.utils.timezone.now()
    premium_now = Subscription.objects.filter(
        models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now),
        status="active",
        tier__in=["premium", "professional"],
        starts_at__lte=now,
    )
    vips = Member.objects.filter(is_premium=True).exclude(pk__in=premium_now.values("member_id"))
    for member_id in vips.values_list("pk", flat=True).iterator():
        for old in Subscription.objects.filter(member_id=member_id, status="active"):
            if old.expires_at is not None and old.expires_at <= now:
                old.status, old.ended_at = "expired", old.expires_at
            else:
                old.status, old.ended_at = "replaced", now
            old.save(update_fields=["status", "ended_at"])
        Subscription.objects.create(
            member_id=member_id, tier="premium", status="active", starts_at=now
        )


def numeric_ids(apps, schema_editor):
    Identity = apps.get_model("accounts", "Identity")
    bad = []
    rows = Identity.objects.filter(platform__in=["telegram", "discord"])
    for identity in rows.iterator():
        if NUMERIC.fullmatch(identity.external_id):
            continue
        demo = DEMO.fullmatch(identity.external_id)
        if demo:  # seed_demo's people (narrative.management.commands.seed_demo.demo_id)
            identity.external_id = str(DEMO_NUMERIC_BASE + int(demo.group(1)))
            identity.save(update_fields=["external_id"])
            continue
        stripped = identity.external_id.lstrip("0")
        taken = rows.filter(platform=identity.platform, external_id=stripped).exists()
        if identity.external_id.isdigit() and NUMERIC.fullmatch(stripped) and not taken:
            identity.external_id = stripped
            identity.save(update_fields=["external_id"])
        else:
            bad.append(f"{identity.platform}:{identity.external_id} (member {identity.member_id})")
    if bad:
        raise RuntimeError(
            "Telegram and Discord ids must be numbers without a leading zero; fix or"
            " relink these before migrating: " + ", ".join(bad[:50])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_subscriptions_profiles_identities"),
    ]

    operations = [
        migrations.RunPython(end_history, migrations.RunPython.noop),
        migrations.RunPython(vip_to_subscriptions, migrations.RunPython.noop),
        migrations.RunPython(numeric_ids, migrations.RunPython.noop),
    ]
