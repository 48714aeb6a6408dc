"""Websockets: `/ws/stream/` (JSON events for overlays and bots, by token) and
`/ws/dashboard/` (htmx out-of-band fragments for staff).

Close codes (sent after accepting, so a client can read them):
4400 bad query (`after` not a whole number), 4401 no or invalid token / not logged in,
4403 token revoked / not staff. A disallowed Origin is refused at the handshake (403,
`AllowedHostsOriginValidator` in config.asgi)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from dashboard.exceptions import InvalidToken, TokenRevoked
from dashboard.hub import get_hub, iso, stream_text
from dashboard.wire import Batch, Outgoing, connection_of, is_open
from events import live
from events.models import Event
from events.scopes import TICKER_KINDS, TRANSFER_POSTED, Scope

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
REPLAY_PAGE = 1000
REPLAY_REMEMBER = 5000  # replayed seqs kept to drop a late live repeat


class _Subscriber:
    """What the hub needs from a connection. A connection has no channel-layer channel of
    its own (the alias names no layer): the process's hub receives every event once and
    hands it to its connections."""

    channel_layer_alias = "concord.no-layer"

    token_id: int | None = None
    views: frozenset = frozenset()

    def wants(self, msg: dict) -> bool:
        return False

    def views_touched(self, msg: dict) -> set:
        return set()

    async def send_view(self, view: str, text: str) -> None:
        await self.send(text_data=text)

    async def ping(self, text: str) -> None:
        pass

    async def push_many(self, items: list[Outgoing]) -> None:
        pass

    async def revoked(self) -> None:
        await self.close(code=CLOSE_FORBIDDEN)

    async def reload(self) -> None:
        pass

    def describe(self) -> dict:
        return {}


class StreamConsumer(_Subscriber, AsyncWebsocketConsumer):
    """`/ws/stream/?token=T&after=SEQ[&view=leaderboard|ticker]`."""

    hub = None

    async def connect(self):
        self.connection_id = uuid.uuid4().hex[:12]
        self.replaying = True
        self.pending: list[Outgoing] = []
        self.wire = None
        self.replayed: set[int] = set()
        self.connected_since = timezone.now()
        self.last_update = None
        self.latency_ms = None
        self.acked_seq = None
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        after_text = (query.get("after") or [""])[0].strip()
        after = _whole_number(after_text) if after_text else None
        if after_text and after is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        try:
            token = await database_sync_to_async(_resolve)((query.get("token") or [""])[0])
        except TokenRevoked:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        except InvalidToken:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.token_id, self.label = token.pk, token.label
        self.stream_scope = Scope.parse(token.scope)
        self.filter_key = self.stream_scope.name  # the hub filters once per scope
        self.wire = connection_of(self.base_send)
        view = (query.get("view") or [""])[0]
        self.views = frozenset(self._views_for(view))
        self.hub = get_hub()
        watermark = await self.hub.subscribe(self)
        try:
            await self._open(after, watermark)
        except BaseException:
            # Channels does not call disconnect() when connect() fails: leave no
            # subscriber behind to queue events forever.
            self.hub.unsubscribe(self)
            raise

    async def _open(self, after: int | None, watermark: int) -> None:
        """Replay, hello, the views' snapshots, then what the hub pushed meanwhile."""
        if after is not None and after < watermark:
            await self._replay(after, watermark)
        await self.send(
            text_data=json.dumps(
                {
                    "type": "hello",
                    "seq": watermark,
                    "scope": self.stream_scope.name,
                    "connection": self.connection_id,
                }
            )
        )
        for view_name in sorted(self.views):
            await self.send(text_data=await self.hub.render(view_name))
        # What the hub pushed meanwhile, in order; still "replaying" until it is all sent,
        # so a live batch cannot overtake it if a send suspends.
        while self.pending:
            pending, self.pending = self.pending, []
            await self._send_items(pending)
        self.replaying = False

    def _views_for(self, view: str) -> set[str]:
        scope = self.stream_scope
        if view == "leaderboard" and scope.kind == "leaderboard":
            return {f"leaderboard:{scope.arg}"}
        if view == "ticker" and scope.kind in {"ticker", "events"}:
            return {"ticker"}
        if view == "tournament" and scope.kind == "tournament":
            return {f"tournament:{scope.arg}"}
        return set()

    async def _replay(self, after: int, watermark: int) -> None:
        while after < watermark:
            page = await database_sync_to_async(_replay_page)(
                self.stream_scope, after, watermark, REPLAY_PAGE
            )
            if not page:
                break
            for msg in page:
                await self.send(text_data=stream_text(msg))
                if msg["seq"] > watermark - REPLAY_REMEMBER:
                    self.replayed.add(msg["seq"])
            after = page[-1]["seq"]
            if len(page) < REPLAY_PAGE:
                break

    async def disconnect(self, code):
        if self.hub is not None:
            self.hub.unsubscribe(self)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            msg = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(msg, dict) and msg.get("type") == "ack":
            if isinstance(msg.get("latency_ms"), int | float):
                self.latency_ms = round(float(msg["latency_ms"]), 1)
            if isinstance(msg.get("seq"), int):
                self.acked_seq = msg["seq"]

    # --- from the hub -----------------------------------------------------------------

    def wants(self, msg: dict) -> bool:
        return self.stream_scope.matches(msg["kind"], msg["data"])

    def views_touched(self, msg: dict) -> set:
        if not self.views:
            return set()
        touched = set()
        if msg["kind"] == TRANSFER_POSTED and isinstance(msg["data"], dict):
            touched.add(f"leaderboard:{msg['data'].get('currency')}")
        if msg["kind"] in TICKER_KINDS:
            touched.add("ticker")
        tournament = _tournament_of(msg)
        if tournament is not None:
            touched.add(f"tournament:{tournament}")
        return touched & self.views

    async def push_many(self, items: list[Outgoing]) -> None:
        """Events from the hub, in seq order (queued while the replay runs)."""
        if self.replaying:
            self.pending.extend(items)
            return
        await self._send_items(items)

    async def _send_items(self, items: list[Outgoing]) -> None:
        if self.replayed:
            fresh = [item for item in items if item.seq not in self.replayed]
            if len(fresh) != len(items):
                self.replayed.difference_update(item.seq for item in items)  # sent already
                items = fresh
        if not items:
            return
        wire = self.wire
        if wire is None:
            for item in items:
                await self.send(text_data=item.text)
        elif is_open(wire):
            # daphne: every frame built once, this connection's in one write.
            wire.sendData((items if isinstance(items, Batch) else Batch(items)).data)
        else:
            return  # closing: disconnect() unsubscribes
        self.last_update = time.time()

    async def send_view(self, view: str, text: str) -> None:
        if not self.replaying:
            self.last_update = time.time()
            await self.send(text_data=text)

    async def ping(self, text: str) -> None:
        await self.send(text_data=text)

    async def reload(self) -> None:
        await self.send(text_data=json.dumps({"type": "reload"}))

    def describe(self) -> dict:
        headers = dict(self.scope.get("headers") or [])
        client = self.scope.get("client") or ["", ""]
        return {
            "connection": self.connection_id,
            "token_id": self.token_id,
            "label": self.label,
            "scope": self.stream_scope.name,
            "connected_since": iso(self.connected_since),
            "last_update": (
                iso(datetime.fromtimestamp(self.last_update, UTC)) if self.last_update else None
            ),
            "latency_ms": self.latency_ms,
            # "frame": events written as frames built once per event (daphne); "asgi":
            # sent through the ASGI interface one by one (any other server).
            "sending": "frame" if self.wire is not None else "asgi",
            "acked_seq": self.acked_seq,
            "client": f"{client[0]}",
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1")[:120],
        }


class DashboardConsumer(_Subscriber, AsyncWebsocketConsumer):
    """`/ws/dashboard/`: staff only; sends the dashboard's live fragments (htmx OOB)."""

    hub = None

    async def connect(self):
        self.connection_id = uuid.uuid4().hex[:12]
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if not (user.is_active and user.is_staff):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        tournament_text = (query.get("tournament") or [""])[0]
        story_text = (query.get("story") or [""])[0]
        if story_text:
            # A story's map page: only its map.
            story = _whole_number(story_text)
            if story is None:
                await self.close(code=CLOSE_BAD_REQUEST)
                return
            self.views = frozenset({f"dashboard:story:{story}"})
        elif tournament_text:
            # A tournament's board page: only its board.
            tournament = _whole_number(tournament_text)
            if tournament is None:
                await self.close(code=CLOSE_BAD_REQUEST)
                return
            self.views = frozenset({f"dashboard:tournament:{tournament}"})
        else:
            currencies = await database_sync_to_async(_currencies)()
            self.views = frozenset(
                {"dashboard:counters", "dashboard:feed"}
                | {f"dashboard:leaderboard:{code}" for code in currencies}
            )
        self.hub = get_hub()
        await self.hub.subscribe(self)
        # Resync on every (re)connect: whatever changed while disconnected.
        for view in sorted(self.views):
            await self.send(text_data=await self.hub.render(view))

    async def disconnect(self, code):
        if self.hub is not None:
            self.hub.unsubscribe(self)

    async def receive(self, text_data=None, bytes_data=None):
        pass  # the dashboard sends nothing the server acts on

    def views_touched(self, msg: dict) -> set:
        touched = {"dashboard:counters", "dashboard:feed"}
        if msg["kind"] == TRANSFER_POSTED and isinstance(msg["data"], dict):
            touched.add(f"dashboard:leaderboard:{msg['data'].get('currency')}")
        tournament = _tournament_of(msg)
        if tournament is not None:
            touched.add(f"dashboard:tournament:{tournament}")
        story = _id_in(msg, "story_id")
        if story is not None:
            touched.add(f"dashboard:story:{story}")
        return touched & self.views

    async def push_many(self, items: list[Outgoing]) -> None:
        pass  # the dashboard shows rendered views, not raw events


WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def _whole_number(text: str) -> int | None:
    """`text` as a whole number if it is one in ASCII digits (not "²", not 19+ digits)."""
    return int(text) if WHOLE_NUMBER.fullmatch(text) else None


def _tournament_of(msg: dict) -> int | None:
    """The tournament an event is about (tournaments.actions put its id in the data)."""
    return _id_in(msg, "tournament_id")


def _id_in(msg: dict, key: str) -> int | None:
    """The id an event's data names under `key` (`tournament_id`, `story_id`), if any."""
    data = msg["data"]
    if isinstance(data, dict):
        found = data.get(key)
        if isinstance(found, int):
            return found
        if isinstance(found, str):
            return _whole_number(found)
    return None


def _resolve(token: str):
    from dashboard.actions import resolve

    return resolve(token)


def _currencies() -> list[str]:
    from dashboard.renders import currencies

    return currencies()


def _replay_page(scope: Scope, after: int, upto: int, limit: int) -> list[dict]:
    rows = Event.objects.filter(scope.q(), seq__gt=after, seq__lte=upto).order_by("seq")[:limit]
    return [live.message_for(event) for event in rows]
