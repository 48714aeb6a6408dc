"""The analytics page's content, built once for the page, its tables and its CSV: a
period's tiles (with the previous period's values), its charts (each a list of series
over the period's buckets), the story funnel and the retention cohorts."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from analytics.queries import Frame, Period, cohorts, funnel
from ledger.models import Currency
from narrative.models import Story

METRICS = [
    "members.registered",
    "members.dau",
    "members.wau",
    "members.mau",
    "referrals.converted",
    "ledger.issued",
    "ledger.spent",
    "ledger.gifts",
    "achievements.granted",
    "subscriptions.started",
    "narrative.starts",
    "narrative.reached",
    "narrative.decided",
    "narrative.endings",
    "narrative.decision_seconds",
    "payments.purchases",
    "payments.refunds",
    "tournaments.registrations",
    "tournaments.held",
    "tournaments.capacity",
    "tournaments.checked_in",
    "tournaments.no_shows",
]
# Tiles: label, metric, dimension prefix (summed over the period).
TILES = [
    ("Registered", "members.registered", ""),
    ("Referral sign-ups", "referrals.converted", ""),
    ("Gifts", "ledger.gifts", ""),
    ("Achievements", "achievements.granted", ""),
    ("Subscriptions started", "subscriptions.started", ""),
    ("Purchases", "payments.purchases", ""),
    ("Refunds", "payments.refunds", ""),
    ("Story starts", "narrative.starts", ""),
    ("Story endings", "narrative.endings", ""),
    ("Tournament registrations", "tournaments.registrations", ""),
]


@dataclass
class Chart:
    slug: str
    title: str
    kind: str  # "line" or "bar"
    x: list[str]  # bucket starts, ISO 8601
    series: list[tuple[str, list[int]]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "slug": self.slug,
            "title": self.title,
            "kind": self.kind,
            "x": self.x,
            "series": [{"label": label, "values": values} for label, values in self.series],
        }

    def rows(self) -> list[list]:
        return [[x, *(values[i] for _, values in self.series)] for i, x in enumerate(self.x)]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["bucket", *(label for label, _ in self.series)])
        writer.writerows(self.rows())
        return out.getvalue()


def _delta(now: int | float, before: int | float) -> float | None:
    return None if not before else round(100 * (now - before) / before, 1)


def build(span: Period) -> dict:
    frame, before = Frame(span, METRICS), Frame(span.previous(), METRICS)
    tiles = []
    for label, metric, prefix in TILES:
        value, previous = frame.total(metric, prefix), before.total(metric, prefix)
        tiles.append(
            {
                "label": label,
                "value": value,
                "previous": previous,
                "delta": _delta(value, previous),
                "spark": frame.series(metric, prefix),
            }
        )
    return {
        "period": span,
        "previous": span.previous(),
        "tiles": tiles,
        "charts": charts(frame, before),
        "tournaments": tournament_rates(frame, before),
        "funnel": named_funnel(frame),
    }


def charts(frame: Frame, before: Frame) -> list[Chart]:
    span = frame.period
    x = [start.isoformat() for start in span.starts]
    members = Chart("members", "Members: registered and active", "line", x)
    members.series.append(("registered", frame.series("members.registered")))
    members.series.append(("registered, previous period", before.series("members.registered")))
    if span.grain == "day":
        members.series += [
            ("daily active", frame.series("members.dau")),
            ("weekly active", frame.series("members.wau")),
            ("monthly active", frame.series("members.mau")),
        ]
    found = [members]
    for code in Currency.objects.order_by("code").values_list("code", flat=True):
        chart = Chart(f"flow-{code}", f"{code}: issued and spent", "line", x)
        chart.series += [
            ("issued", frame.series("ledger.issued", f"{code}:")),
            ("spent", frame.series("ledger.spent", f"{code}:")),
            ("issued, previous period", before.series("ledger.issued", f"{code}:")),
        ]
        found.append(chart)
        kinds = Chart(f"kinds-{code}", f"{code} by kind (period total)", "bar", [])
        issued, spent = frame.by_dimension("ledger.issued"), frame.by_dimension("ledger.spent")
        names = sorted(k for k in issued.keys() | spent.keys() if k.startswith(f"{code}:"))
        kinds.x = [name.partition(":")[2] for name in names]
        kinds.series += [
            ("issued", [issued.get(n, 0) for n in names]),
            ("spent", [spent.get(n, 0) for n in names]),
        ]
        if names:
            found.append(kinds)
    stories = Chart("stories", "Stories: starts, decisions, endings", "bar", x)
    stories.series += [
        ("starts", frame.series("narrative.starts")),
        ("decisions", frame.series("narrative.decided")),
        ("endings", frame.series("narrative.endings")),
    ]
    tournaments = Chart("tournaments", "Tournaments: registrations and check-ins", "bar", x)
    tournaments.series += [
        ("registrations", frame.series("tournaments.registrations")),
        ("checked in", frame.series("tournaments.checked_in")),
        ("no-shows", frame.series("tournaments.no_shows")),
    ]
    return [*found, stories, tournaments]


def tournament_rates(frame: Frame, before: Frame) -> list[dict]:
    """Tournaments whose check-in closed in the period: fill rate and check-in rate."""
    rows = []
    for label, data in (("this period", frame), ("previous period", before)):
        capacity = data.total("tournaments.capacity")
        checked, missed = data.total("tournaments.checked_in"), data.total("tournaments.no_shows")
        rows.append(
            {
                "label": label,
                "held": data.total("tournaments.held"),
                "capacity": capacity,
                "checked_in": checked,
                "no_shows": missed,
                "fill_rate": round(100 * (checked + missed) / capacity, 1) if capacity else None,
                "check_in_rate": round(100 * checked / (checked + missed), 1)
                if checked + missed
                else None,
            }
        )
    return rows


def named_funnel(frame: Frame) -> list[dict]:
    steps = funnel(frame)
    titles = dict(Story.objects.filter(pk__in=steps).values_list("pk", "title"))
    return [
        {"story": story, "title": titles.get(story, f"story {story}"), "chapters": chapters}
        for story, chapters in sorted(steps.items())
    ]


def cohort_table(today, weeks: int = 8) -> list[dict]:
    return cohorts(weeks, today)


def funnel_csv(stories: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["story", "chapter", "reached", "decided", "drop_off", "drop_off_pct", "median_seconds"]
    )
    for story in stories:
        for step in story["chapters"]:
            writer.writerow(
                [
                    story["title"],
                    step["chapter"],
                    step["reached"],
                    step["decided"],
                    step["drop_off"],
                    step["drop_off_pct"],
                    step["median_seconds"],
                ]
            )
    return out.getvalue()


def cohorts_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    weeks = max((len(row["weeks"]) for row in rows), default=0)
    writer.writerow(["week", "registered", *(f"week {n}" for n in range(weeks))])
    for row in rows:
        writer.writerow(
            [row["week"].isoformat(), row["size"], *(c["active"] for c in row["weeks"])]
        )
    return out.getvalue()


def spark_points(values: list[int], width: int = 96, height: int = 24) -> str:
    """An SVG polyline's points drawing `values` in a width x height box."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (height - 2) * v / top:.1f}" for i, v in enumerate(values)
    )


def home_trends(span: Period) -> list[dict]:
    """The home page's sparklines: the last 7 days of registrations, daily actives and
    each currency's flows, with the change against the 7 days before."""
    metrics = ["members.registered", "members.dau", "ledger.issued", "ledger.spent"]
    frame, before = Frame(span, metrics), Frame(span.previous(), metrics)
    wanted = [("registered", "members.registered", ""), ("daily active", "members.dau", "")]
    for code in Currency.objects.order_by("code").values_list("code", flat=True):
        wanted += [
            (f"{code} issued", "ledger.issued", f"{code}:"),
            (f"{code} spent", "ledger.spent", f"{code}:"),
        ]
    found = []
    for label, metric, prefix in wanted:
        values = frame.series(metric, prefix)
        total, previous = sum(values), before.total(metric, prefix)
        found.append(
            {
                "label": label,
                "total": total,
                "previous": previous,
                "delta": _delta(total, previous),
                "points": spark_points(values),
            }
        )
    return found
