"""Every app's named exceptions derive from `config.errors.Refusal`, the one place a
refusal is counted (ops.metrics), so a new app's errors are counted too."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from django.apps import apps

from config.errors import Refusal

ROOT = Path(__file__).resolve().parent.parent


def test_every_apps_exceptions_are_refusals():
    ours = [a.label for a in apps.get_app_configs() if Path(a.path).parent == ROOT]
    checked, odd = 0, []
    for label in ours:
        if not (ROOT / label / "exceptions.py").exists():
            continue
        module = importlib.import_module(f"{label}.exceptions")
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Exception):
                if value.__module__ != module.__name__:
                    continue  # imported from elsewhere
                checked += 1
                if not issubclass(value, Refusal):
                    odd.append(f"{label}.exceptions.{name}")
    assert checked > 20
    assert not odd, odd
