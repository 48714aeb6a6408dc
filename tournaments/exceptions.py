from __future__ import annotations

from config.errors import Refusal


class TournamentsError(Refusal):
    """Base error of the tournaments app; every refusal of a tournaments action is one."""


class InvalidTournament(TournamentsError, ValueError):
    """Settings that cannot make a tournament: windows out of order, a capacity below 2,
    a negative fee, a prize table that is not placement -> positive amount, ..."""


class InvalidRequest(TournamentsError, ValueError):
    """A malformed argument: an unsaved member, a tournament or registration that does
    not exist, a reason with control characters, ..."""


class IllegalTransition(TournamentsError):
    """The tournament's status cannot move there from where it is (draft -> registration
    -> check_in -> in_progress -> completed; any but completed -> cancelled)."""

    def __init__(self, tournament_id: int, current: str, wanted: str):
        super().__init__(f"tournament {tournament_id} is {current}: it cannot become {wanted}")
        self.tournament_id = tournament_id
        self.current = current
        self.wanted = wanted


class RegistrationClosed(TournamentsError):
    """The tournament is not taking registrations (not in registration, or outside its
    registration window)."""


class TournamentFull(TournamentsError):
    """Every slot is taken and there is no waitlist, or the waitlist is full too."""


class Disqualified(TournamentsError):
    """The member was disqualified from this tournament and may not register again."""


class NotCheckInTime(TournamentsError):
    """Check-in is not open (the tournament is not in check-in, or its window closed)."""


class NotRegistered(TournamentsError):
    """The registration does not hold a slot for this (waitlisted, withdrawn, no-show or
    disqualified)."""


class TournamentStarted(TournamentsError):
    """The field is final once the tournament is in progress: no withdrawals or
    disqualifications then."""


class BracketError(TournamentsError):
    """No bracket can be made now: one exists already, or fewer than two checked in."""


class InvalidResult(TournamentsError, ValueError):
    """The match is not waiting for a result, the winner does not play in it, or the
    score is malformed."""


class NotFinished(TournamentsError):
    """The bracket still has matches to play: the tournament cannot be finalized."""
