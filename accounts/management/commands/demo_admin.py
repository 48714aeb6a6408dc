"""`manage.py demo_admin`: make (or reset) the demo staff login and print it."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model

from config.commands import ConcordCommand


class Command(ConcordCommand):
    help = "Create the demo admin user, give it a fresh random password, print the login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        url = f"{settings.CONCORD_SITE_URL}/admin/"
        self.stdout.write(
            self.style.SUCCESS(f"Admin login: {url}  user {username}  password {password}")
        )
        self.stdout.write(f"Live dashboard: {settings.CONCORD_SITE_URL}/dashboard/")
