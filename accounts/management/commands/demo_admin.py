"""`manage.py demo_admin [--username admin] [--force]`: make (or reset) the demo staff
login and print it.

It prints a superuser's password on screen, so it is for a developer's machine: it
refuses when DEBUG is off unless `--force`, and it only ever touches the demo user. That
user is recognised by its email, `DEMO_EMAIL` (the `.invalid` top-level domain is
reserved: no real address can have it), so no column is needed and a real account named
like it (`--username realadmin`) is refused, never reset. Each run gives the demo user a
fresh password; it is a superuser and, once the roles migration made it, in `Owner`.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from config.commands import ConcordCommand
from config.text import printable

DEMO_EMAIL = "demo@concord.invalid"


class Command(ConcordCommand):
    help = "Create the demo admin user, give it a fresh random password, print the login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--force", action="store_true", help="run even though DEBUG is off (not for production)"
        )

    def handle(self, *args, username: str, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: demo_admin makes a superuser with a password printed on screen;"
                " give --force to do it anyway"
            )
        username = self.valid_username(username)
        password = secrets.token_urlsafe(12)
        self.reset(username, password)
        url = f"{settings.CONCORD_SITE_URL}/admin/"
        self.stdout.write(
            self.style.SUCCESS(
                printable(f"Admin login: {url}  user {username}  password {password}")
            )
        )
        self.stdout.write(printable(f"Live dashboard: {settings.CONCORD_SITE_URL}/dashboard/"))

    def valid_username(self, username: str) -> str:
        model = get_user_model()
        field = model._meta.get_field(model.USERNAME_FIELD)
        try:
            return field.clean(username, None)
        except ValidationError as error:
            raise CommandError(
                f"{username!r} is not a valid username: {' '.join(error.messages)}"
            ) from None

    @transaction.atomic
    def reset(self, username: str, password: str) -> None:
        model = get_user_model()
        user = model.objects.select_for_update().filter(username=username).first()
        if user is None:
            user = model(username=username, email=DEMO_EMAIL)
        elif user.email != DEMO_EMAIL:
            raise CommandError(
                f"user {username!r} exists and is not the demo user (its email is not"
                f" {DEMO_EMAIL}); choose another --username, or delete that user"
            )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        owner = Group.objects.filter(name="Owner").first()
        if owner is not None:
            user.groups.add(owner)
