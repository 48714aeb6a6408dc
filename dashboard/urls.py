from __future__ import annotations

from django.urls import path

from dashboard import privacy, views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("members/", views.members, name="members"),
    path("members/<int:member_id>/", views.member, name="member"),
    path("members/<int:member_id>/export.json", privacy.member_export_view, name="member-export"),
    path("tournaments/", views.tournaments, name="tournaments"),
    path("tournaments/<int:tournament_id>/", views.tournament, name="tournament"),
    path("stories/", views.stories, name="stories"),
    path("stories/<int:story_id>/", views.story, name="story"),
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
