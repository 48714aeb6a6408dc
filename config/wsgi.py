"""WSGI entry point: pages, admin and the Bot API under uWSGI (`uwsgi --ini
config/uwsgi.ini`, recommended) or gunicorn (`gunicorn -c config/gunicorn.py
config.wsgi:application`); websockets need the ASGI app, served by daphne.

Under WSGI a request runs start to end in the worker's own thread, so a database
connection can outlive it: persistent connections are on (`DATABASE_CONN_MAX_AGE` 600
unless set: config.env under uWSGI, config/gunicorn.py under gunicorn; CONN_HEALTH_CHECKS
tests a reused one before a request uses it). The settings are read when the `config`
package is imported, before this module runs, so the default is not set here. Under
ASGI they stay off (config.settings).

`application` runs the Bot API's calls through a shorter middleware chain than the
pages' (config.handlers); under uWSGI the request's scheme is its connection's
(`config.handlers.TransportScheme`).
"""

from __future__ import annotations

import os

import django

from config.env import under_uwsgi
from config.handlers import PagesAndBotApi, TransportScheme

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

# Bot API calls run a shorter middleware chain than pages (config.handlers).
application = PagesAndBotApi()
if under_uwsgi():
    application = TransportScheme(application)
