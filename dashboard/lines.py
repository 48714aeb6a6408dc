"""Every event kind as one line a person reads: who, what, where (players and score, story
and choice, amount and reason where public), with links to the member, tournament or
story it is about.

A line is a list of segments `(text, url)` (url None: plain text), so the feed renders
links and the ticker joins the texts. `Lines(events)` looks up, in one query per kind of
thing, every name its events mention (members by display name only, never by email or
external id: the feed is shown to every staff role). A kind without a describer still
gets a line (its kind, said in words, and the member it names): a new kind is never
shown as nothing. tests/dashboard/test_lines.py asserts every kind with a schema has
its own describer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.urls import reverse

from dashboard.scopes import member_ids

Segment = tuple[str, str | None]
Describer = Callable[["Lines", dict], list[Segment]]

# Feed filters: a kind's group is its first word (`tournament.registered` -> tournament).
GROUPS = {
    "member": "members",
    "members": "members",
    "subscription": "members",
    "ledger": "money",
    "payments": "money",
    "tournament": "tournaments",
    "narrative": "stories",
}


FEED_GROUPS = [
    ("all", "All"),
    ("money", "Money"),
    ("members", "Members"),
    ("tournaments", "Tournaments"),
    ("stories", "Stories"),
    ("system", "System"),
]


def group_of(kind: str) -> str:
    return GROUPS.get(kind.partition(".")[0], "system")


def _ids(values: Iterable[Any]) -> set[int]:
    return {v for v in values if type(v) is int}


def _amount(value, currency: str = "") -> str:
    number = value if type(value) is int else 0
    return f"{number:,} {currency}".strip()


class Lines:
    """Lines for a batch of (kind, data) pairs, with the names they mention."""

    def __init__(self, items: Iterable[tuple[str, dict]], *, links: bool = True):
        from accounts.models import Member
        from narrative.models import Choice, Story
        from tournaments.models import Registration, Tournament

        items = [(kind, data if isinstance(data, dict) else {}) for kind, data in items]
        self.links = links
        registrations = _ids(
            d.get(key)
            for _, d in items
            for key in ("winner_registration_id", "loser_registration_id")
        )
        self.registrations = dict(
            Registration.objects.filter(pk__in=registrations).values_list("pk", "member_id")
        )
        members = _ids(self._member_ids(items)) | set(self.registrations.values())
        self.members = _names(Member, members, "display_name")
        self.tournaments = _names(
            Tournament, _ids(d.get("tournament_id") for _, d in items), "name"
        )
        self.stories = _names(Story, _ids(d.get("story_id") for _, d in items), "title")
        self.choices = _names(Choice, _ids(d.get("choice_id") for _, d in items), "text")

    @staticmethod
    def _member_ids(items) -> Iterable:
        for _, data in items:
            yield from member_ids(data)

    def _link(self, text: str, name: str, pk) -> Segment:
        return (text, reverse(name, args=[pk]) if self.links and type(pk) is int else None)

    def member(self, pk) -> Segment:
        return self._link(self.members.get(pk) or f"member {pk}", "dashboard:member", pk)

    def player(self, registration_id) -> Segment:
        member_id = self.registrations.get(registration_id)
        if member_id is None:
            return (f"registration {registration_id}", None)
        return self.member(member_id)

    def tournament(self, pk) -> Segment:
        return self._link(
            self.tournaments.get(pk) or f"tournament {pk}", "dashboard:tournament", pk
        )

    def story(self, pk) -> Segment:
        return self._link(self.stories.get(pk, f"story {pk}"), "dashboard:story", pk)

    def choice(self, pk) -> str:
        return self.choices.get(pk, f"choice {pk}")

    def line(self, kind: str, data: dict) -> list[Segment]:
        data = data if isinstance(data, dict) else {}
        describer = DESCRIBERS.get(kind)
        try:
            if describer is not None:
                return [s for s in describer(self, data) if s[0]]
        except Exception:  # a malformed old row still gets a line
            pass
        words = kind.replace("_", " ").replace(".", ": ", 1)
        if type(data.get("member_id")) is int:
            return [(f"{words} — ", None), self.member(data["member_id"])]
        return [(words, None)]

    def text(self, kind: str, data: dict) -> str:
        return "".join(text for text, _ in self.line(kind, data))


def _names(model, ids: set[int], field: str) -> dict[int, str]:
    if not ids:
        return {}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", field))


def _t(text: str) -> Segment:
    return (text, None)


# --- members ---------------------------------------------------------------------------


def _registered(lines: Lines, d: dict) -> list[Segment]:
    out = [lines.member(d.get("member_id")), _t(" joined")]
    if d.get("platform"):
        out.append(_t(f" on {str(d['platform']).capitalize()}"))
    if type(d.get("referred_by")) is int:
        out += [_t(", invited by "), lines.member(d["referred_by"])]
    return out


def _updated(lines: Lines, d: dict) -> list[Segment]:
    changed = ", ".join(str(name).replace("_", " ") for name in d.get("changed") or [])
    return [lines.member(d.get("member_id")), _t(f" updated: {changed or 'details'}")]


def _identity_linked(lines: Lines, d: dict) -> list[Segment]:
    platform = str(d.get("platform") or "another").capitalize()
    return [lines.member(d.get("member_id")), _t(f" linked a {platform} account")]


def _profile_updated(lines: Lines, d: dict) -> list[Segment]:
    changed = ", ".join(str(name).replace("_", " ") for name in d.get("changed") or [])
    return [lines.member(d.get("member_id")), _t(f"'s profile updated: {changed or 'details'}")]


def _renewed(lines: Lines, d: dict) -> list[Segment]:
    until = str(d.get("expires_at") or "")[:10]
    return [lines.member(d.get("member_id")), _t(f" renewed {d.get('tier')} until {until}")]


def _tier_changed(lines: Lines, d: dict) -> list[Segment]:
    return [
        lines.member(d.get("member_id")),
        _t(f" moved from {d.get('old_tier')} to {d.get('tier')}"),
    ]


def _subscription(lines: Lines, d: dict, verb: str) -> list[Segment]:
    out = [lines.member(d.get("member_id")), _t(f" {verb} {d.get('tier') or 'a'} subscription")]
    if verb == "started" and d.get("expires_at"):
        out.append(_t(f" until {str(d['expires_at'])[:10]}"))
    return out


# --- money -----------------------------------------------------------------------------


def _transfer(lines: Lines, d: dict) -> list[Segment]:
    currency = d.get("currency") or ""
    legs = [p for p in d.get("postings") or [] if isinstance(p, dict) and p.get("member_id")]
    out: list[Segment] = []
    if type(d.get("reverses")) is int:
        out.append(_t(f"reversal of transfer {d['reverses']}: "))
    payers = [p for p in legs if (p.get("amount") or 0) < 0]
    payees = [p for p in legs if (p.get("amount") or 0) > 0]
    if len(payers) == 1 and len(payees) == 1:
        out += [
            lines.member(payers[0]["member_id"]),
            _t(" gave "),
            lines.member(payees[0]["member_id"]),
        ]
        out.append(_t(f" {_amount(payees[0]['amount'], currency)}"))
    else:
        for n, leg in enumerate(legs[:3]):
            out += [_t(", " if n else ""), lines.member(leg["member_id"])]
            out.append(_t(f" {leg.get('amount') or 0:+,} {currency}"))
        if len(legs) > 3:
            out.append(_t(f" and {len(legs) - 3} more"))
    reason = d.get("reason") or d.get("kind") or ""
    return [*out, _t(f" ({reason})" if reason else "")]


HOLD_VERBS = {
    "ledger.hold_placed": "held",
    "ledger.hold_captured": "paid (from a hold)",
    "ledger.hold_released": "released (a hold)",
    "ledger.hold_expired": "no longer held (the hold expired)",
}


def _hold(kind: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        sink = str(d.get("sink") or "").removeprefix("sink:")
        amount = _amount(d.get("amount"), d.get("currency") or "")
        where = f" for {sink}" if sink else ""
        return [lines.member(d.get("member_id")), _t(f": {amount} {HOLD_VERBS[kind]}{where}")]

    return describe


PAYMENT_VERBS = {
    "payments.payment_started": "started paying",
    "payments.payment_completed": "paid",
    "payments.payment_failed": "failed to pay",
    "payments.payment_refunded": "was refunded",
}
READING_VERBS = {
    "payments.reading_begun": "began",
    "payments.reading_finished": "finished",
    "payments.reading_abandoned": "abandoned",
}


def _payment(kind: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        money = _amount(d.get("amount"), d.get("currency") or "")  # minor units
        credit = _amount(d.get("credit_amount"), d.get("credit_currency") or "")
        verb, provider = PAYMENT_VERBS[kind], d.get("provider") or ""
        return [lines.member(d.get("member_id")), _t(f" {verb} {money} for {credit} ({provider})")]

    return describe


def _reading(kind: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        spread = str(d.get("spread") or "").replace("_", " ")
        price = _amount(d.get("price"), d.get("currency") or "")
        return [
            lines.member(d.get("member_id")),
            _t(f" {READING_VERBS[kind]} a {spread} reading ({price})"),
        ]

    return describe


def _achievement(lines: Lines, d: dict) -> list[Segment]:
    title = d.get("name") or d.get("achievement") or "an achievement"
    reward = d.get("reward")
    paid = (
        f" (+{_amount(reward, d.get('currency') or '')})" if type(reward) is int and reward else ""
    )
    return [lines.member(d.get("member_id")), _t(f" earned “{title}”{paid}")]


def _activity(lines: Lines, d: dict) -> list[Segment]:
    streak = d.get("current")
    days = f" ({streak}-day streak)" if type(streak) is int and streak > 1 else ""
    return [lines.member(d.get("member_id")), _t(f" was active{days}")]


# --- stories ---------------------------------------------------------------------------


def _story_started(lines: Lines, d: dict) -> list[Segment]:
    return [lines.member(d.get("member_id")), _t(" started "), lines.story(d.get("story_id"))]


def _decision(lines: Lines, d: dict) -> list[Segment]:
    out = [lines.member(d.get("member_id")), _t(f" chose “{lines.choice(d.get('choice_id'))}” in ")]
    out.append(lines.story(d.get("story_id")))
    if d.get("ending"):
        out.append(_t(" and reached an ending"))
    reward = d.get("reward")
    if type(reward) is int and reward:
        out.append(_t(f" (+{_amount(reward, d.get('currency') or '')})"))
    return out


def _rebuilt(lines: Lines, d: dict) -> list[Segment]:
    return [
        lines.member(d.get("member_id")),
        _t("'s place in "),
        lines.story(d.get("story_id")),
        _t(" rebuilt"),
    ]


def _story_changed(lines: Lines, d: dict) -> list[Segment]:
    state = "published" if d.get("published") else "a draft"
    return [lines.story(d.get("story_id")), _t(f" edited (now {state})")]


def _story_published(lines: Lines, d: dict) -> list[Segment]:
    return [lines.story(d.get("story_id")), _t(" published")]


# --- tournaments -----------------------------------------------------------------------


def _seats(d: dict) -> str:
    active, capacity = d.get("active_count"), d.get("capacity")
    return f" ({active}/{capacity})" if type(active) is int and type(capacity) is int else ""


def _player_in(verb: str, *, seats: bool = False) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        out = [
            lines.member(d.get("member_id")),
            _t(f" {verb} "),
            lines.tournament(d.get("tournament_id")),
        ]
        return [*out, _t(_seats(d) if seats else "")]

    return describe


def _created(lines: Lines, d: dict) -> list[Segment]:
    game = f"{d['game']}, " if d.get("game") else ""
    return [
        lines.tournament(d.get("tournament_id")),
        _t(f" created ({game}{d.get('capacity')} players)"),
    ]


def _tournament_updated(lines: Lines, d: dict) -> list[Segment]:
    changed = ", ".join(str(name).replace("_", " ") for name in d.get("changed") or [])
    return [
        lines.tournament(d.get("tournament_id")),
        _t(f" settings changed: {changed or 'details'}"),
    ]


def _waitlisted(lines: Lines, d: dict) -> list[Segment]:
    position = d.get("waitlist_position")
    at = f" (#{position})" if type(position) is int else ""
    return [
        lines.member(d.get("member_id")),
        _t(" joined the waitlist of "),
        lines.tournament(d.get("tournament_id")),
        _t(at),
    ]


def _registered_many(lines: Lines, d: dict) -> list[Segment]:
    registered, waitlisted = len(d.get("registered") or []), len(d.get("waitlisted") or [])
    extra = f", {waitlisted} waitlisted" if waitlisted else ""
    return [
        _t(f"{registered} players registered for "),
        lines.tournament(d.get("tournament_id")),
        _t(f"{extra}{_seats(d)}"),
    ]


def _skipped(lines: Lines, d: dict) -> list[Segment]:
    why = f": {d['reason']}" if d.get("reason") else ""
    return [
        lines.member(d.get("member_id")),
        _t(" passed over on the waitlist of "),
        lines.tournament(d.get("tournament_id")),
        _t(why),
    ]


def _disqualified(lines: Lines, d: dict) -> list[Segment]:
    why = f": {d['reason']}" if d.get("reason") else ""
    return [
        lines.member(d.get("member_id")),
        _t(" disqualified from "),
        lines.tournament(d.get("tournament_id")),
        _t(why),
    ]


def _no_show(lines: Lines, d: dict) -> list[Segment]:
    count = len(d.get("member_ids") or d.get("registration_ids") or [])
    return [
        _t(f"{count} no-show{'s' if count != 1 else ''} in "),
        lines.tournament(d.get("tournament_id")),
    ]


def _bracket(lines: Lines, d: dict) -> list[Segment]:
    return [
        lines.tournament(d.get("tournament_id")),
        _t(f": bracket drawn, {d.get('players')} players, {d.get('rounds')} rounds"),
    ]


def _match(lines: Lines, d: dict) -> list[Segment]:
    where = f" (round {d.get('round')}, match {d.get('slot')})"
    score = f" {d['score']}" if d.get("score") else ""
    out = [
        lines.tournament(d.get("tournament_id")),
        _t(f"{where}: "),
        lines.player(d.get("winner_registration_id")),
    ]
    if type(d.get("loser_registration_id")) is int:
        out += [_t(" beat "), lines.player(d["loser_registration_id"])]
    else:
        out.append(_t(" advanced"))
    return [*out, _t(score)]


def _finalized(lines: Lines, d: dict) -> list[Segment]:
    out = [lines.tournament(d.get("tournament_id")), _t(" finished")]
    places = sorted(
        (p for p in d.get("placements") or [] if isinstance(p, dict)),
        key=lambda p: p.get("placement") or 0,
    )
    for n, place in enumerate(places[:3]):
        out += [
            _t(", " if n else ": "),
            _t(f"{_ordinal(place.get('placement'))} "),
            lines.member(place.get("member_id")),
        ]
    return out


def _ordinal(n) -> str:
    n = n if type(n) is int else 0
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _status_changed(lines: Lines, d: dict) -> list[Segment]:
    before, after = (str(d.get(k) or "").replace("_", " ") for k in ("from", "to"))
    why = f" ({d['reason']})" if d.get("reason") else ""
    return [lines.tournament(d.get("tournament_id")), _t(f": {before} → {after}{why}")]


# --- staff and system ------------------------------------------------------------------


def _overlay(verb: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        label = f"“{d['label']}” " if d.get("label") else ""
        return [_t(f"overlay link {label}{verb} ({d.get('scope')})")]

    return describe


def _api_key(verb: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        label = f"“{d['label']}” " if d.get("label") else ""
        return [_t(f"API key {label}{d.get('prefix')} {verb}")]

    return describe


def _webhook(verb: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        # The host only: a webhook URL often carries its secret (Discord's, Slack's), and
        # the feed is every staff role's.
        host = urlsplit(str(d.get("url") or "")).hostname
        url = f" ({host})" if host else ""
        detail = ""
        if verb == "disabled":
            detail = f" after {d.get('attempts')} failed attempts at event {d.get('seq')}"
        elif verb == "redelivered":
            detail = f": event {d.get('seq')} queued again"
        return [_t(f"webhook {d.get('webhook_id')}{url} {verb}{detail}")]

    return describe


def _locked(lines: Lines, d: dict) -> list[Segment]:
    # A staff username, or "one address" (an address is personal data; the feed is
    # every role's: the admin's login records say which).
    who = d.get("username") or "one address"
    return [_t(f"logins locked for {who} after {d.get('failures')} failures")]


def _alert(state: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        return [_t(f"alert {state}: {d.get('title') or d.get('key') or ''}")]

    return describe


def _repaired(lines: Lines, d: dict) -> list[Segment]:
    what = "; ".join(map(str, d.get("repairs") or [])) or "nothing to repair"
    return [lines.member(d.get("member_id")), _t(f" restored from {d.get('source')}: {what}")]


def _config_changed(lines: Lines, d: dict) -> list[Segment]:
    fields = ", ".join(map(str, d.get("fields") or [])) or "all fields"
    what = f"{d.get('model')} {d.get('pk')}"
    return [_t(f"configuration: {what} {d.get('operation') or 'changed'} ({fields})")]


def _archived(what: str) -> Describer:
    def describe(lines: Lines, d: dict) -> list[Segment]:
        return [_t(f"{d.get('rows')} {what} archived to {d.get('file')}")]

    return describe


def _erased(lines: Lines, d: dict) -> list[Segment]:
    why = f": {d['reason']}" if d.get("reason") else ""
    return [lines.member(d.get("member_id")), _t(f"'s personal data erased{why}")]


def _integrity(lines: Lines, d: dict) -> list[Segment]:
    if d.get("ok"):
        return [_t(f"integrity report: all {d.get('checks')} checks passed")]
    failed = d.get("failed") or []
    return [_t(f"integrity report: {len(failed)} failing ({', '.join(map(str, failed[:3]))})")]


WEBHOOK_VERBS = ("created", "updated", "deleted", "disabled", "redelivered")

DESCRIBERS: dict[str, Describer] = {
    "member.registered": _registered,
    "member.updated": _updated,
    "member.identity_linked": _identity_linked,
    "subscription.started": lambda lines, d: _subscription(lines, d, "started"),
    "subscription.cancelled": lambda lines, d: _subscription(lines, d, "cancelled"),
    "subscription.expired": lambda lines, d: [
        lines.member(d.get("member_id")),
        _t(f"'s {d.get('tier')} subscription expired"),
    ],
    "subscription.renewed": _renewed,
    "subscription.tier_changed": _tier_changed,
    "member.profile_updated": _profile_updated,
    "ledger.transfer_posted": _transfer,
    **{kind: _hold(kind) for kind in HOLD_VERBS},
    "ledger.achievement_granted": _achievement,
    **{kind: _payment(kind) for kind in PAYMENT_VERBS},
    **{kind: _reading(kind) for kind in READING_VERBS},
    "ledger.activity_recorded": _activity,
    "narrative.story_started": _story_started,
    "narrative.decision_made": _decision,
    "narrative.member_rebuilt": _rebuilt,
    "narrative.story_changed": _story_changed,
    "narrative.story_published": _story_published,
    "tournament.created": _created,
    "tournament.updated": _tournament_updated,
    "tournament.registered": _player_in("registered for", seats=True),
    "tournament.waitlisted": _waitlisted,
    "tournament.registered_many": _registered_many,
    "tournament.promoted": _player_in("moved up from the waitlist into", seats=True),
    "tournament.promotion_skipped": _skipped,
    "tournament.withdrawn": _player_in("withdrew from", seats=True),
    "tournament.disqualified": _disqualified,
    "tournament.checked_in": _player_in("checked in for"),
    "tournament.no_show": _no_show,
    "tournament.bracket_generated": _bracket,
    "tournament.match_recorded": _match,
    "tournament.finalized": _finalized,
    "tournament.status_changed": _status_changed,
    "overlay.token_created": _overlay("created"),
    "overlay.token_revoked": _overlay("revoked"),
    "api.key_created": _api_key("created"),
    "api.key_revoked": _api_key("revoked"),
    **{f"api.webhook_{verb}": _webhook(verb) for verb in WEBHOOK_VERBS},
    "staff.login_locked": _locked,
    "system.alert_raised": _alert("raised"),
    "system.alert_resolved": _alert("resolved"),
    "integrity.run_finished": _integrity,
    "system.member_repaired": _repaired,
    "config.changed": _config_changed,
    "events.archived": _archived("events"),
    "ledger.activity_archived": _archived("activity days"),
    "member.erased": _erased,
    "members.exported": lambda lines, d: [
        _t(f"members list exported: {d.get('rows')} rows{' with emails' * bool(d.get('pii'))}")
    ],
}
