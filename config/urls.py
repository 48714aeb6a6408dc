from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from api import views as api_views
from api.v1 import api as bot_api
from config.health import healthz
from dashboard import views as dashboard_views
from ops.views import metrics

admin.site.site_header = "Concord"
admin.site.site_title = "Concord admin"

urlpatterns = [
    path("", RedirectView.as_view(url="/dashboard/", permanent=False)),
    path("dashboard/api-keys/", api_views.keys, name="api-keys"),
    path("dashboard/api-keys/new", api_views.key_create, name="api-key-create"),
    path("dashboard/api-keys/<str:prefix>/revoke", api_views.key_revoke, name="api-key-revoke"),
    path("dashboard/api-keys/webhooks/", api_views.webhooks, name="api-webhooks"),
    path(
        "dashboard/api-keys/webhooks/<int:endpoint_id>/",
        api_views.webhook_log,
        name="api-webhook",
    ),
    path(
        "dashboard/api-keys/webhooks/<int:endpoint_id>/enable",
        api_views.webhook_enable,
        name="api-webhook-enable",
    ),
    path(
        "dashboard/api-keys/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        api_views.webhook_redeliver,
        name="api-webhook-redeliver",
    ),
    path("dashboard/", include("dashboard.urls")),
    re_path(
        r"^overlays/(?P<token>[A-Za-z0-9_:-]{1,200})/(?P<page>leaderboard|ticker|tournament)/$",
        dashboard_views.overlay_page,
        name="overlay",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", bot_api.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", RedirectView.as_view(url="/static/favicon.svg", permanent=True)),
]
