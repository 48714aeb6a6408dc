"""The Celery app, configured from Django settings (`CELERY_*`)."""

from __future__ import annotations

import os
import sys

from celery import Celery
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every entry point (manage.py, daphne, celery, wsgi) imports this module through the
# `config` package: a bad environment stops here, with one line, before anything else.
try:
    settings.INSTALLED_APPS  # noqa: B018  (loads the settings)
except ImproperlyConfigured as exc:
    print(f"concord: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)

app = Celery("concord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
