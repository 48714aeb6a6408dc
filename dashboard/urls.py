from __future__ import annotations

from django.urls import path

from dashboard import (
    integrity_page,
    member_controls,
    members_list,
    privacy,
    tournament_controls,
    tournament_terms,
    trends,
    views,
)

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("leaderboards/<str:currency>/", views.leaderboard, name="leaderboard"),
    path("members/", members_list.members, name="members"),
    path("members/award", members_list.bulk_award, name="members-award"),
    path("members/<int:member_id>/", views.member, name="member"),
    path("members/<int:member_id>/live", views.member_live, name="member-live"),
    path("members/<int:member_id>/export.json", privacy.member_export_view, name="member-export"),
    path("tournaments/", views.tournaments, name="tournaments"),
    path("tournaments/<int:tournament_id>/", views.tournament, name="tournament"),
    path("tournaments/new", tournament_terms.new, name="tournament-new"),
    path("tournaments/<int:tournament_id>/edit", tournament_terms.edit, name="tournament-edit"),
    path(
        "tournaments/<int:tournament_id>/panel",
        tournament_controls.panel,
        name="tournament-panel",
    ),
    path(
        "tournaments/<int:tournament_id>/do/<slug:name>",
        tournament_controls.step,
        name="tournament-step",
    ),
    path(
        "tournaments/<int:tournament_id>/players/<int:registration_id>/<slug:name>",
        tournament_controls.player,
        name="tournament-player",
    ),
    path(
        "tournaments/<int:tournament_id>/register",
        tournament_controls.register,
        name="tournament-register",
    ),
    path(
        "tournaments/<int:tournament_id>/search",
        tournament_controls.search,
        name="tournament-search",
    ),
    path(
        "tournaments/<int:tournament_id>/matches/<int:match_id>/result",
        tournament_controls.result,
        name="tournament-result",
    ),
    path("members/<int:member_id>/adjust", member_controls.adjust, name="member-adjust"),
    path(
        "members/<int:member_id>/transfers/<int:transfer_id>/reverse",
        member_controls.reverse,
        name="member-reverse",
    ),
    path("members/<int:member_id>/grant", member_controls.grant, name="member-grant"),
    path("members/<int:member_id>/subscribe", member_controls.subscribe, name="member-subscribe"),
    path("members/<int:member_id>/profile", member_controls.profile, name="member-profile"),
    path("members/<int:member_id>/erase", member_controls.erase, name="member-erase"),
    path(
        "members/<int:member_id>/subscriptions/<int:subscription_id>/cancel",
        member_controls.unsubscribe,
        name="member-unsubscribe",
    ),
    path("stories/", views.stories, name="stories"),
    path("stories/<int:story_id>/", views.story, name="story"),
    path("analytics/", trends.analytics, name="analytics"),
    path("analytics/today", trends.analytics_today, name="analytics-today"),
    path("analytics/<slug:slug>.csv", trends.analytics_csv, name="analytics-csv"),
    path("integrity/", integrity_page.integrity, name="integrity"),
    path("integrity/run", integrity_page.integrity_run, name="integrity-run"),
    path("overlays/", views.overlays, name="overlays"),
    path("overlays/new", views.overlay_create, name="overlay-create"),
    path("overlays/<int:token_id>/revoke", views.overlay_revoke, name="overlay-revoke"),
    path("overlays/fleet/", views.fleet, name="fleet"),
    path(
        "overlays/connections/<str:connection_id>/reload",
        views.overlay_reload,
        name="overlay-reload",
    ),
]
