"""Real servers for tests: a private redis-server, and daphne, uWSGI or gunicorn serving
Concord."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from django.db import connection

from config.processes import free_port, stop, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def redis_server():
    """A redis-server of our own (so stopping it harms nobody); yields its URL and process."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        stop(proc)


def database_url_for_tests(tmp_path: Path) -> str:
    """A URL a child process can use: the test database on PostgreSQL, else a fresh file."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{tmp_path / 'child.sqlite3'}"


def migrate_child_database(env: dict[str, str]) -> None:
    """Create the schema in a child's fresh SQLite file (the test database on PostgreSQL
    has it already)."""
    if not env.get("DATABASE_URL", "").startswith("sqlite"):
        return
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=child_env({**env, "DJANGO_DEBUG": "1"}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def child_env(env: dict[str, str]) -> dict[str, str]:
    """Production-like settings (DEBUG off) over plain HTTP, with `env`'s services."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    production = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "test-only-secret-key-for-child-processes-0123456789abcdef",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
    }
    return {**base, **production, **env}


def spawn_daphne(env: dict[str, str], port: int, *, stderr=subprocess.PIPE) -> subprocess.Popen:
    """Start daphne serving Concord on `port` (a fixed one, so it can be restarted where
    clients reconnect) and wait until it listens; the caller stops it. `stderr`: where its
    log goes (a pipe by default; a file keeps a long run from filling the pipe)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=child_env(env),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        wait_for_port(port, proc)
    except Exception:
        stop(proc)
        if proc.stderr is not None:
            detail = proc.stderr.read().decode()[-2000:]
        else:
            detail = f"daphne did not start (its log: {getattr(stderr, 'name', stderr)})"
        raise RuntimeError(detail) from None
    return proc


@contextlib.contextmanager
def daphne(env: dict[str, str], *, stderr=subprocess.PIPE):
    """Concord served by daphne in its own process; yields the base URL. `stderr`: where
    its log goes (a file for a long run: nobody reads the pipe, and a full pipe blocks
    the server at its next log line)."""
    port = free_port()
    proc = spawn_daphne(env, port, stderr=stderr)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@contextlib.contextmanager
def _wsgi_server(what: str, command: list[str], env: dict[str, str], port: int):
    """Run `command` (a WSGI server listening on `port`) from the repository with
    `env`'s services; yields the base URL and the process. If it does not start, the
    error is its log's end."""
    proc = subprocess.Popen(
        command, cwd=ROOT, env=child_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        try:
            wait_for_port(port, proc, what=what)
        except Exception:
            stop(proc)
            raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop(proc)
        proc.stderr.close()


def gunicorn(env: dict[str, str], *, workers: int = 1, threads: int = 2):
    """Concord's HTTP served by gunicorn (config/gunicorn.py, config.wsgi) in its own
    process, as in production; yields the base URL and the process."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
               "config.wsgi:application"]  # fmt: skip
    return _wsgi_server("gunicorn", command, env, port)


def uwsgi(env: dict[str, str], *, workers: int = 1, threads: int = 2):
    """Concord's HTTP served by uWSGI (config/uwsgi.ini, config.wsgi) in its own process,
    as in production; yields the base URL and the process."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "uwsgi"), "--ini", "config/uwsgi.ini",
               "--processes", str(workers), "--threads", str(threads)]  # fmt: skip
    return _wsgi_server("uwsgi", command, {**env, "WEB_BIND": f"127.0.0.1:{port}"}, port)


WSGI_SERVERS = {"uwsgi": uwsgi, "gunicorn": gunicorn}


def spawn_relay(env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `manage.py run_relay` with `env`'s services, its output going to `log` (read
    it to see whether it leads or waits); the caller stops it."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_relay"],
            cwd=ROOT,
            env=child_env({**env, "PYTHONUNBUFFERED": "1"}),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    finally:
        handle.close()


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Wait until `text` appears in `log` (written by `proc`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not in {log} within {timeout}s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def relay(env: dict[str, str], log: Path):
    """`manage.py run_relay` leading for `env`'s database while the block runs; yields it."""
    proc = spawn_relay(env, log)
    try:
        wait_for_line(log, "relay: leading", proc)
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def celery_worker(
    env: dict[str, str],
    queue: str,
    *,
    beat_schedule: Path | None = None,
    output=subprocess.PIPE,
):
    """A real Celery worker process consuming `queue`; stopped (warm) on exit.

    With `beat_schedule` (a file path) it also runs beat (`--beat`), which sends the
    scheduled tasks to the default queue. `output`: where its log goes (a pipe by default)."""
    beat = ["--beat", "--schedule", str(beat_schedule)] if beat_schedule is not None else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
            *beat,
        ],
        cwd=ROOT,
        env=child_env(env),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        stop(proc)


def run_django(env: dict[str, str], code: str) -> dict:
    """Run `code` in a fresh Django process with `env`'s services (another process, as a
    bot or the admin would be); it prints one JSON line, returned here. `json` is
    imported for it."""
    script = "import json\nimport django\ndjango.setup()\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=child_env({**env, "DJANGO_SETTINGS_MODULE": "config.settings"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"child process failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def stream_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """Child-process settings: the test database, `redis_url`, served on 127.0.0.1."""
    return {
        "DATABASE_URL": database_url_for_tests(tmp_path),
        "REDIS_URL": redis_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }


def member_and_stream_token(env: dict[str, str], external_id: str) -> dict:
    """A member and an `events` overlay token, made in a child process (tokens are signed
    with the servers' secret key): {"member": pk, "token": token}."""
    return run_django(
        env,
        f"""
        from accounts.actions import register_member
        from dashboard.actions import create_token
        m = register_member(platform="web", external_id={external_id!r},
                            username="Streamer").member
        print(json.dumps({{"member": m.pk, "token": create_token("events").token}}))
        """,
    )
