"""The tournament board as the dashboard and the overlay show it: `tournaments.queries.board`
flattened to plain data (rendered by the hub once per change for every page and overlay
showing that tournament)."""

from __future__ import annotations

WAITLIST_SHOWN = 20


def tournament_board(tournament_id: int) -> dict | None:
    """Counts, the players holding a slot (checked in first), the head of the waitlist and
    the bracket by round; None if there is no such tournament."""
    from tournaments.exceptions import InvalidRequest
    from tournaments.models import Format, RegistrationStatus, Status
    from tournaments.queries import board as read_board

    try:
        board = read_board(tournament_id, waitlist=WAITLIST_SHOWN)
    except InvalidRequest:
        return None
    checked = RegistrationStatus.CHECKED_IN
    knockout = board.format == Format.SINGLE_ELIMINATION
    players = sorted(board.players, key=lambda p: p.status != checked)  # stable: by seed

    def name(entry) -> str | None:
        return entry.display_name or f"member {entry.member_id}" if entry else None

    return {
        "id": board.tournament_id,
        "name": board.name,
        "game": board.game,
        "status": board.status,
        "status_label": Status(board.status).label,
        "format": Format(board.format).label,
        "currency": board.currency,
        "entry_fee": board.entry_fee,
        "capacity": board.capacity,
        "seated": board.registered + board.checked_in,
        "checked_in": board.checked_in,
        "waitlisted": board.waitlisted,
        "players": [
            {
                "id": p.registration_id,
                "name": name(p),
                "checked_in": p.status == checked,
                "seed": p.seed,
            }
            for p in players
        ],
        "waitlist": [
            {"id": w.registration_id, "position": w.waitlist_position, "name": name(w)}
            for w in board.waitlist
        ],
        "rounds": [
            {
                "round": games[0].round,
                "matches": [
                    {
                        "id": g.match_id,
                        "slot": g.slot,
                        "status": g.status,
                        "score": g.score,
                        "home": name(g.home),
                        "away": name(g.away),
                        "home_id": g.home.registration_id if g.home else None,
                        "away_id": g.away.registration_id if g.away else None,
                        "home_label": name(g.home) or _empty_side(g, "home", knockout),
                        "away_label": name(g.away) or _empty_side(g, "away", knockout),
                        "winner": _side(g),
                    }
                    for g in games
                ],
            }
            for games in board.rounds
            if games
        ],
    }


def _empty_side(game, side: str, knockout: bool) -> str:
    """What an empty side of a match reads: "bye" where round 1 left it empty for good,
    "Winner of R1 M3" where a match of the round before will fill it (single
    elimination: round r slot s is fed by round r - 1 slots 2s - 1 (home) and 2s (away)),
    else "TBD"."""
    if game.status == "bye":
        return "bye"
    if knockout and game.round > 1:
        feeder = 2 * game.slot - (1 if side == "home" else 0)
        return f"Winner of R{game.round - 1} M{feeder}"
    return "TBD"


def _side(game) -> str | None:
    if game.winner_id is None:
        return None
    if game.home and game.home.registration_id == game.winner_id:
        return "home"
    if game.away and game.away.registration_id == game.winner_id:
        return "away"
    return None


def tournaments_list() -> list[dict]:
    from tournaments.models import Tournament

    return list(
        Tournament.objects.order_by("-pk").values(
            "pk", "name", "game", "status", "capacity", "active_count", "waitlist_count"
        )[:100]
    )


# --- the story map --------------------------------------------------------------------

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 190, 58, 110, 34, 20


def story_board(story_id: int) -> dict | None:
    """The story map as an SVG's geometry: chapters in columns by their distance from
    chapter 1, endings in a last column, each choice a curve labelled with how many
    members took it (thicker when taken more). None if there is no such story."""
    from narrative.queries import story_map

    found = story_map(story_id)
    if found is None:
        return None
    boxes = {**_chapter_boxes(found), **_ending_boxes(found)}
    nodes = list(boxes.values())
    return {
        "id": found.story_id,
        "title": found.title,
        "published": found.published,
        "currency": found.currency,
        "decisions": found.decisions,
        "readers": found.readers,
        "finished": found.finished,
        "problems": found.problems,
        "nodes": nodes,
        "edges": _choice_edges(found, boxes),
        "node_w": NODE_W,
        "node_h": NODE_H,
        "width": max((n["x"] for n in nodes), default=0) + NODE_W + PAD,
        "height": max((n["y"] for n in nodes), default=0) + NODE_H + PAD,
        "choices": [_choice_row(found, c) for c in found.choices],
    }


def _chapter_boxes(found) -> dict[str, dict]:
    """A box per chapter, in its column (distance from chapter 1) and row."""
    return {
        f"c{chapter.id}": {
            "key": f"c{chapter.id}",
            "kind": "chapter",
            "x": PAD + chapter.column * (NODE_W + COL_GAP),
            "y": PAD + chapter.row * (NODE_H + ROW_GAP),
            "title": f"{chapter.number}. {chapter.title}",
            "detail": " · ".join(
                [*chapter.locks, f"{chapter.reading} here" if chapter.reading else ""]
            ).strip(" ·"),
            "reading": chapter.reading,
        }
        for chapter in found.chapters
    }


def _ending_boxes(found) -> dict[str, dict]:
    """A box per ending, in the column after the last chapter's."""
    last_column = max((c.column for c in found.chapters), default=-1) + 1
    endings = sorted({c.ending for c in found.choices if c.ending})
    return {
        f"e{ending}": {
            "key": f"e{row}",
            "kind": "ending",
            "x": PAD + last_column * (NODE_W + COL_GAP),
            "y": PAD + row * (NODE_H + ROW_GAP),
            "title": ending,
            "detail": f"{sum(c.taken for c in found.choices if c.ending == ending)} reached",
            "reading": 0,
        }
        for row, ending in enumerate(endings)
    }


def _choice_edges(found, boxes: dict[str, dict]) -> list[dict]:
    """A curve per choice from its chapter's box to where it leads, thicker when taken
    more (relative to the most taken). The choices leaving a box start at even heights
    down its right side (and those arriving end so down the left side), so no two share a
    point; each count sits just past its start, in the gap between columns, where no box
    can cover it (the map draws the counts above the boxes too)."""
    most = max((c.taken for c in found.choices), default=0) or 1
    ends = []
    for choice in found.choices:
        start = boxes.get(f"c{choice.chapter_id}")
        end = boxes.get(
            f"c{choice.next_chapter_id}" if choice.next_chapter_id else f"e{choice.ending}"
        )
        if start is not None and end is not None:
            ends.append((choice, start, end))
    leaving = _spread([start["key"] for _, start, _ in ends])
    arriving = _spread([end["key"] for _, _, end in ends])
    edges = []
    for n, (choice, start, end) in enumerate(ends):
        x1, y1 = start["x"] + NODE_W, start["y"] + NODE_H * leaving[n]
        x2, y2 = end["x"], end["y"] + NODE_H * arriving[n]
        bend = max(40, (x2 - x1) / 2)
        edges.append(
            {
                "id": choice.id,
                "d": f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f}"
                f" {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}",
                "label_x": round(x1 + 8),
                "label_y": round(y1 - 4),
                "taken": choice.taken,
                "text": choice.text,
                "width": round(1.5 + 6 * choice.taken / most, 1),
            }
        )
    return edges


def _spread(keys: list[str]) -> list[float]:
    """For each of `keys` (a box per edge, in order), where along the box's side its edge
    meets it: the k-th of n edges at (k + 1) / (n + 1) of the height."""
    total = {key: keys.count(key) for key in set(keys)}
    seen: dict[str, int] = {}
    fractions = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        fractions.append(seen[key] / (total[key] + 1))
    return fractions


def _choice_row(found, choice) -> dict:
    """A choice as the table under the map lists it."""
    number = {n.id: n.number for n in found.chapters}
    if choice.ending:
        leads_to = f"ending: {choice.ending}"
    elif choice.next_chapter_id in number:
        leads_to = f"chapter {number[choice.next_chapter_id]}"
    else:
        leads_to = "?"
    return {
        "id": choice.id,
        "chapter": number.get(choice.chapter_id),
        "text": choice.text,
        "leads_to": leads_to,
        "reward": choice.reward,
        "taken": choice.taken,
    }


def stories_list() -> list[dict]:
    from narrative.queries import stories

    return stories()
