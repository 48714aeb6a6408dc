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
        "waitlist": [{"position": w.waitlist_position, "name": name(w)} for w in board.waitlist],
        "rounds": [
            {
                "round": games[0].round,
                "matches": [
                    {
                        "slot": g.slot,
                        "status": g.status,
                        "score": g.score,
                        "home": name(g.home),
                        "away": name(g.away),
                        "winner": _side(g),
                    }
                    for g in games
                ],
            }
            for games in board.rounds
            if games
        ],
    }


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
