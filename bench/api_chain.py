"""The Python an award costs inside the WSGI application, with no server and no network:
Django's handler with the full middleware chain (settings.MIDDLEWARE, what every request
ran before config.handlers) against `config.wsgi.application` (Bot API calls on their own
chain), interleaved in one process so both see the same CPU.

DATABASE_URL must name an existing PostgreSQL database; the script migrates it itself:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/api_chain.py [--awards 3000]

Each handler answers `POST /api/v1/ledger/awards` (a new Idempotency-Key each time) in
rounds of 100, alternating, after 200 warm-up awards each. It prints CPU ms per award of
this process (Django, ninja, the key, the rate limit's round trip, psycopg's side of the
award; PostgreSQL's backend is not counted) for each, and the difference. The HTTP
figures are bench/api.py's.

Exit 0: every award answered 201; 1: one did not; 2: bad arguments or environment."""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid

# Before Django reads its settings (importing common does): as gunicorn runs it, with
# persistent connections and no rate limit in the way.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")
os.environ["API_RATE_LIMITS"] = "default=100000000/60,ledger:write=100000000/60"

import common

ROUND = 100
WARM = 200


def parse_args(argv: list[str]):
    parser = common.bench_parser("bench/api_chain.py", __doc__)
    parser.add_argument("--awards", type=common.positive, default=3000, help="per handler")
    args = parser.parse_args(argv)
    common.postgres_url()
    return args


def environ(token: str, member_id: int) -> dict:
    body = json.dumps({"member_id": member_id, "amount": 1, "reason": "chain"}).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/ledger/awards",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_IDEMPOTENCY_KEY": f"chain:{uuid.uuid4().hex}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "https",  # as a TLS proxy's request reaches gunicorn
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def award(app, token: str, member_id: int) -> None:
    answered = []
    chunks = app(
        environ(token, member_id), lambda status, headers, exc=None: answered.append(status)
    )
    try:
        body = b"".join(chunks)
    finally:
        chunks.close()
    if not answered[0].startswith("201"):
        raise common.BenchFailed(f"HTTP {answered[0]}: {body[:300]!r}")


def main(argv: list[str]) -> int:
    args, version, sync = common.start("bench/api_chain.py", parse_args, argv)
    from django.core.handlers.wsgi import WSGIHandler

    import config.wsgi
    from api.actions import create_key

    common.print_setup(version, sync)
    run_id = uuid.uuid4().hex[:10]
    [member] = common.register_members(f"chain-{run_id}", 1, username="chain")
    token = create_key(label=f"bench chain {run_id}", scopes=["ledger:write"]).token
    handlers = {"full chain": WSGIHandler(), "API chain": config.wsgi.application}
    used = dict.fromkeys(handlers, 0.0)
    try:
        for app in handlers.values():
            for _ in range(WARM):
                award(app, token, member.pk)
        for _ in range(max(1, args.awards // ROUND)):
            for name, app in handlers.items():
                started = time.process_time()
                for _ in range(ROUND):
                    award(app, token, member.pk)
                used[name] += time.process_time() - started
    except common.BenchFailed as failed:
        print(failed, file=sys.stderr)
        return 1
    awards = max(1, args.awards // ROUND) * ROUND
    full, api = (used[name] / awards * 1000 for name in handlers)
    print(f"awards per handler: {awards} (interleaved in rounds of {ROUND})")
    print(f"CPU ms per award: full chain {full:.3f}  API chain {api:.3f}  ({api / full - 1:+.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
