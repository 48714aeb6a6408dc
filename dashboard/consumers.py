"""Websockets: `/ws/stream/` (JSON events for overlays and bots, by token) and
`/ws/dashboard/` (htmx out-of-band fragments for staff).

Close codes (sent after accepting, so a client can read them):
4400 bad query (`after` not a whole number), 4401 no or invalid token / not logged in or
session no longer valid, 4403 token revoked / not staff or not permitted
(`dashboard.view_dashboard`), 4206 more history than STREAM_REPLAY_MAX (reconnect with
the last seq received), 4413 a client message over 4 KB, 4429 the token has
STREAM_MAX_PER_TOKEN connections already or the client sends too many messages, 4503 the
dashboard socket's user could not be rechecked. (HTTP's codes plus 4000: daphne's
autobahn sends no other application codes than 1000 and 3000-4999, so not 1008/1009.)
A dashboard handshake from another Origin is refused with 403 (dashboard.origins); the
stream accepts any Origin, or none.

Clients send the stream nothing but acks, and the dashboard nothing it acts on, so every
client message is read defensively (`_Subscriber.websocket_receive`, `client_message`):
bounded in size and rate, parsed only when it is a flat JSON object of short numbers, its
values range-checked, and no error in handling one can end the consumer. Every way out
of a connection unsubscribes it from the hub (`_Subscriber.__call__`)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from dashboard import member_news, public
from dashboard.exceptions import InvalidToken, StreamLimitReached, TokenRevoked
from dashboard.hub import get_hub, iso, stream_text
from dashboard.scopes import TICKER_KINDS, TRANSFER_POSTED, Scope
from dashboard.socket_auth import verdicts
from dashboard.wire import Batch, Outgoing, connection_of, is_open
from events import live
from events.models import Event
from ops.metrics import WEBSOCKETS, WEBSOCKETS_OPENED

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_REPLAY_MORE = 4206  # more history than STREAM_REPLAY_MAX: reconnect from the last seq
CLOSE_TOO_BIG = 4413  # a client message over MAX_CLIENT_MESSAGE
CLOSE_TOO_MANY = 4429  # the token's connections at STREAM_MAX_PER_TOKEN, or a message flood
REPLAY_PAGE = 500
REPLAY_CHUNK = 50  # replayed events sent in one write (one socket write), one turn of the loop
REPLAY_REMEMBER = 5000  # replayed seqs kept to drop a late live repeat
# A client message: an ack is under 100 characters; anything over this closes with 4413.
MAX_CLIENT_MESSAGE = 4096
CLIENT_RATE = 20  # messages per second a client may send on average ...
CLIENT_BURST = 100  # ... and at once
MAX_LATENCY_MS = 86_400_000  # an ack's latency above a day is not a latency
MAX_SEQ = 2**63 - 1


class _Subscriber:
    """What the hub needs from a connection. A connection has no channel-layer channel of
    its own (the alias names no layer): the process's hub receives every event once and
    hands it to its connections."""

    channel_layer_alias = "concord.no-layer"

    hub = None
    wire = None
    closed = False
    token_id: int | None = None
    views: frozenset = frozenset()
    _budget = float(CLIENT_BURST)
    _budget_at = 0.0
    kind = ""  # the label of `concord_websocket_connections`
    _counted = False

    async def __call__(self, scope, receive, send):
        """The connection's whole life. Whatever ends it (a close from either side, an
        error Channels does not turn into `disconnect()`, daphne cancelling a consumer
        that outlived its socket), its subscriber leaves the hub and the open-connections
        gauge goes down."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.closed = True
            if self.hub is not None:
                self.hub.unsubscribe(self)
            if self._counted:
                self._counted = False
                WEBSOCKETS.labels(self.kind).dec()

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        if not self._counted:
            self._counted = True
            WEBSOCKETS.labels(self.kind).inc()
            WEBSOCKETS_OPENED.labels(self.kind).inc()

    async def close(self, code=None, reason=None):
        """Closing ends what the hub sends: the subscriber leaves it now, not when the
        client's answer (or daphne's timeout) brings `disconnect()`."""
        self.closed = True
        if self.hub is not None:
            self.hub.unsubscribe(self)
        await super().close(code=code, reason=reason)

    def gone(self) -> bool:
        """The connection has ended or is ending: nothing more to send it."""
        return self.closed or (self.wire is not None and not is_open(self.wire))

    async def websocket_receive(self, message):
        """Every client message, before `receive`: over MAX_CLIENT_MESSAGE closes with
        4413, more than CLIENT_RATE a second (CLIENT_BURST at once) with 4429; an error
        while handling one is logged and the connection carries on."""
        if self.closed:
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        if data is not None and len(data) > MAX_CLIENT_MESSAGE:
            await self.close(code=CLOSE_TOO_BIG, reason="message too big")
            return
        now = time.monotonic()
        self._budget = min(CLIENT_BURST, self._budget + (now - self._budget_at) * CLIENT_RATE)
        self._budget_at = now
        if self._budget < 1:
            await self.close(code=CLOSE_TOO_MANY, reason="too many messages")
            return
        self._budget -= 1
        try:
            await super().websocket_receive(message)
        except Exception:
            logger.exception("%s: could not handle a client message", type(self).__name__)

    def wants(self, msg: dict) -> bool:
        return False

    def views_touched(self, msg: dict) -> set:
        return set()

    async def send_view(self, view: str, text: str) -> None:
        await self.send(text_data=text)

    async def ping(self, ping: Batch) -> None:
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
    kind = "stream"
    floor = 0  # events up to this seq the client has already (it said so with after=)

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
            token = await get_hub().read(_resolve, (query.get("token") or [""])[0])
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
        try:
            watermark = await self.hub.subscribe(self)
        except StreamLimitReached:
            await self.close(code=CLOSE_TOO_MANY, reason="too many connections on this token")
            return
        try:
            await self._open(after, watermark)
        except BaseException:
            # Channels does not call disconnect() when connect() fails: leave no
            # subscriber behind to queue events forever.
            self.hub.unsubscribe(self)
            raise

    async def _open(self, after: int | None, watermark: int) -> None:
        """Replay, hello, the views' snapshots, then what the hub pushed meanwhile. A
        client that has seen more than this hub (`after` above its watermark: it was
        connected to a process ahead of this one) is not sent those events again."""
        if after is not None and after > watermark:
            self.floor = after
        if after is not None and after < watermark and not await self._replay(after, watermark):
            return  # more history than one connection replays: closed with 4206
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

    async def _replay(self, after: int, watermark: int) -> bool:
        """Send the scope's events in (after, watermark], at most STREAM_REPLAY_MAX of
        them. False when there was more: the connection is then closed with 4206 and
        the reason `after=<seq>`, and the client reconnects from the last seq it got.

        A page is read and sent holding one of the hub's few replay slots, REPLAY_CHUNK
        events per write, then the hub paces replays to half the loop's time: fifty
        clients replaying from 0 take turns, and live deliveries and HTTP requests
        (/healthz) go in between (a request needs a dozen turns of the loop: each turn
        must be short, and come often)."""
        budget = settings.STREAM_REPLAY_MAX
        while after < watermark:
            want = min(REPLAY_PAGE, budget + 1)  # one more than the budget: is there more?
            async with self.hub.replay_slot:
                page = await self.hub.read(_replay_page, self.stream_scope, after, watermark, want)
                sent = page[:budget]
                for start in range(0, len(sent), REPLAY_CHUNK):
                    if self.gone():
                        return False
                    began = time.monotonic()
                    rows = sent[start : start + REPLAY_CHUNK]
                    # The public projection, as live (None: private, not sent).
                    texts = [(msg, stream_text(msg)) for msg in rows]
                    await self._send_replayed(
                        [Outgoing(msg["seq"], text, msg) for msg, text in texts if text]
                    )
                    self.replayed.update(
                        msg["seq"] for msg in rows if msg["seq"] > watermark - REPLAY_REMEMBER
                    )
                    await self.hub.replay_paced(time.monotonic() - began)
            if sent:
                after, budget = sent[-1]["seq"], budget - len(sent)
            if len(page) > len(sent):
                await self.close(code=CLOSE_REPLAY_MORE, reason=f"after={after}")
                return False
            if len(page) < want:
                break
            await asyncio.sleep(0)
        return True

    async def _send_replayed(self, items: list[Outgoing]) -> None:
        """Replayed events: under daphne in one write (frames built for this connection
        only, unlike live ones), else through ASGI one by one."""
        if not items:
            return
        if self.wire is None:
            for item in items:
                await self.send(text_data=item.text)
        elif is_open(self.wire):
            self.wire.sendData(Batch(items).data)

    async def disconnect(self, code):
        if self.hub is not None:
            self.hub.unsubscribe(self)

    async def receive(self, text_data=None, bytes_data=None):
        """An overlay's ack: the last seq it got and its delivery latency (the fleet
        shows them); a value out of range is ignored, anything else too."""
        msg = client_message(text_data)
        if msg is None or msg.get("type") != "ack":
            return
        latency = msg.get("latency_ms")
        if type(latency) in (int, float) and 0 <= latency <= MAX_LATENCY_MS:
            self.latency_ms = round(float(latency), 1)
        seq = msg.get("seq")
        if type(seq) is int and 0 <= seq <= MAX_SEQ:
            self.acked_seq = seq

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
        if self.floor and items:
            if items[-1].seq <= self.floor:
                return
            items = [item for item in items if item.seq > self.floor]
            self.floor = 0
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

    async def ping(self, ping: Batch) -> None:
        """The hub's ping, one frame built for every connection (daphne)."""
        if self.wire is None:
            await self.send(text_data=ping[0].text)
        elif is_open(self.wire):
            self.wire.sendData(ping.data)

    async def reload(self) -> None:
        await self.send(text_data=json.dumps({"type": "reload"}))

    _described: dict | None = None

    def describe(self) -> dict:
        """This connection for the fleet (the hub writes every connection's every 5 s:
        what does not change is built once)."""
        if self._described is None:
            headers = dict(self.scope.get("headers") or [])
            client = self.scope.get("client") or ["", ""]
            self._described = {
                "connection": self.connection_id,
                "token_id": self.token_id,
                "label": self.label,
                "scope": self.stream_scope.name,
                "connected_since": iso(self.connected_since),
                # "frame": events written as frames built once per event (daphne);
                # "asgi": sent through the ASGI interface one by one (any other server).
                "sending": "frame" if self.wire is not None else "asgi",
                "client": f"{client[0]}",
                "user_agent": headers.get(b"user-agent", b"").decode("latin-1")[:120],
            }
        return {
            **self._described,
            "last_update": (
                iso(datetime.fromtimestamp(self.last_update, UTC)) if self.last_update else None
            ),
            "latency_ms": self.latency_ms,
            "acked_seq": self.acked_seq,
        }


class DashboardConsumer(_Subscriber, AsyncWebsocketConsumer):
    """`/ws/dashboard/[?story=ID|tournament=ID|member=ID]`: staff holding
    `dashboard.view_dashboard`; sends the dashboard's live fragments (htmx OOB), each
    rendered once for every socket showing it, so nothing in them depends on who looks.
    A member page's fragment says only that an event named the member (`member_ids`) or
    changed one of the member's tournaments (dashboard.member_news): the page then fetches its
    blocks with its own session, which decides what they show.
    The hub rechecks the user every few seconds and closes the socket when the rule no
    longer holds (dashboard.socket_auth)."""

    hub = None
    kind = "dashboard"
    staff_session: tuple[str | None, object] | None = None  # (session key, user id)
    checked_at = 0.0  # time.monotonic() of the last check that passed
    member: int | None = None  # a member page's member
    tournaments: frozenset[int] = frozenset()  # ... and theirs (dashboard.member_news)

    async def connect(self):
        self.connection_id = uuid.uuid4().hex[:12]
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        session = self.scope.get("session")
        staff_session = (getattr(session, "session_key", None), user.pk)
        # Fresh from the database (not the middleware's user and its permission cache):
        # the rule the hub applies every few seconds after.
        found = await database_sync_to_async(verdicts)({self.connection_id: staff_session})
        verdict = found[self.connection_id]
        if verdict is not None:
            await self.close(code=verdict)
            return
        self.staff_session, self.checked_at = staff_session, time.monotonic()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        # A story's map page: only its map; a tournament's page: only its board; a
        # member's page: only the news that something about the member changed.
        for name in ("story", "tournament", "member"):
            text = (query.get(name) or [""])[0]
            if text:
                found = _whole_number(text)
                if found is None:
                    await self.close(code=CLOSE_BAD_REQUEST)
                    return
                self.views = frozenset({f"dashboard:{name}:{found}"})
                self.member = found if name == "member" else None
                break
        else:
            currencies = await database_sync_to_async(_currencies)()
            self.views = frozenset(
                {"dashboard:counters", "dashboard:feed"}
                | {f"dashboard:leaderboard:{code}" for code in currencies}
            )
        self.hub = get_hub()
        await self.hub.subscribe(self)
        if self.member is not None:
            # Read once subscribed: a registration committed meanwhile is either in the
            # rows read or in an event this socket hears (views_touched adds it).
            found = await database_sync_to_async(member_news.tournaments_of)(self.member)
            self.tournaments = self.tournaments | found
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
        if self.member is not None:
            heard, self.tournaments = member_news.heard(
                self.member, self.tournaments, msg["kind"], msg["data"], tournament
            )
            if heard:
                touched.add(f"dashboard:member:{self.member}")
        return touched & self.views

    async def push_many(self, items: list[Outgoing]) -> None:
        pass  # the dashboard shows rendered views, not raw events


WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
# Checked before parsing: one JSON object holding no object or array (no recursion).
FLAT_OBJECT = re.compile(r"\s*\{[^{}\[\]]*\}\s*")


def client_message(text: str | None) -> dict | None:
    """A client's text message as a flat JSON object of short values, else None: at
    most MAX_CLIENT_MESSAGE characters, nothing nested, integers of at most 19
    characters, finite floats (no NaN, no Infinity, no 400-digit numbers)."""
    if not text or len(text) > MAX_CLIENT_MESSAGE or not FLAT_OBJECT.fullmatch(text):
        return None
    try:
        msg = json.loads(
            text, parse_int=_short_int, parse_float=_finite_float, parse_constant=_refuse
        )
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def _short_int(text: str) -> int:
    if len(text) > 19:
        raise ValueError("number too long")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text) if len(text) <= 32 else math.inf
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _refuse(text: str):
    raise ValueError(f"{text} is not a number")


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
    """A page of the log in `scope` after `after`: kinds with a public projection only
    (`dashboard.public`: the others are never sent to a token stream)."""
    rows = Event.objects.filter(
        scope.q(), kind__in=sorted(public.PROJECTORS), seq__gt=after, seq__lte=upto
    ).order_by("seq")[:limit]
    return [live.message_for(event) for event in rows]
