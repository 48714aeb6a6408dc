"""WSGI entry point: pages, admin and the Bot API under gunicorn (websockets need the ASGI
app, served by daphne). `gunicorn -c config/gunicorn.py config.wsgi:application`.

Under WSGI a request runs start to end in the worker's own thread, so a database
connection can outlive it: config/gunicorn.py turns persistent connections on
(`DATABASE_CONN_MAX_AGE` 600 unless set; CONN_HEALTH_CHECKS tests a reused one before a
request uses it). The settings are read when the `config` package is imported, before
this module runs, so the default is set there, in gunicorn's master, and not here.
Under ASGI they stay off (config.settings).

`application` runs the Bot API's calls through a shorter middleware chain than the
pages' (config.handlers).
"""

from __future__ import annotations

import os

import django

from config.handlers import PagesAndBotApi

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

# Bot API calls run a shorter middleware chain than pages (config.handlers).
application = PagesAndBotApi()
