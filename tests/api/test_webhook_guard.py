"""The SSRF guard (`api.netguard`): where webhooks may be sent. Refused at registration
(a 422 problem from the API, a CommandError from `manage.py webhook`, a message on the
dashboard) and at every attempt after resolving the host (a failed attempt in the log,
retried and finally disabling the endpoint like any other failure). Names are resolved by
the system (`localhost`) or by a resolver handed to the sender (the test's own table);
https is checked against a receiver holding a certificate of its own."""

from __future__ import annotations

import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import urllib3
from django.core.management import CommandError, call_command

from accounts.actions import register_member
from api import delivery, netguard
from api.actions import create_endpoint, create_key
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from dashboard import roles
from tests.api.receiver import Receiver
from tests.api.test_dashboard_webhooks import CSRF, logged_in

pytestmark = pytest.mark.django_db

ALWAYS = {
    "169.254.169.254": "link-local",
    "169.254.0.1": "link-local",
    "fe80::1": "link-local",
    "fd00:ec2::254": "cloud metadata",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
}
PRIVATE = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "shared (carrier-grade NAT)",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "::ffff:10.0.0.1": "private",
    "2002:c0a8:101::1": "private",  # 6to4 of 192.168.1.1
    "192.0.2.1": "reserved",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1", "100.128.0.1"]


def url_for(address: str, path: str = "/hook") -> str:
    return f"http://[{address}]{path}" if ":" in address else f"http://{address}{path}"


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


@pytest.fixture(autouse=True)
def short_back_off(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05, 0.05]


def test_each_class_of_address_is_judged_as_the_rules_say():
    for address, label in ALWAYS.items():
        for allow in (True, False):
            reason = netguard.refusal(address, allow_private=allow)
            assert f"a {label} address" in (reason or ""), address
    for address, label in PRIVATE.items():
        assert netguard.refusal(address, allow_private=True) is None, address
        reason = netguard.refusal(address, allow_private=False)
        assert f"a {label} address" in (reason or ""), address
        assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in reason
    for address in PUBLIC:
        assert netguard.refusal(address, allow_private=False) is None, address


def test_the_api_refuses_to_register_each_refused_class_and_writes_nothing(make_bot, strict):
    bot = make_bot("events:read", "webhooks:manage")
    refused = {**ALWAYS, **PRIVATE, "localhost:8000": "loopback", "app.localhost": "loopback"}
    for address, label in refused.items():
        url = url_for(address) if address in ALWAYS or address in PRIVATE else f"http://{address}/"
        answer = bot.post("/webhooks", {"url": url})
        assert answer.status_code == 422, (url, answer.content)
        assert answer["Content-Type"] == "application/problem+json"
        assert answer.json()["code"] == "invalid_webhook"
        assert f"a {label} address" in answer.json()["detail"], url
    assert bot.post("/webhooks", {"url": "gopher://example.org/"}).status_code == 422
    assert bot.post("/webhooks", {"url": "file:///etc/passwd"}).status_code == 422
    assert not WebhookEndpoint.objects.exists()
    for address in PUBLIC:
        assert bot.post("/webhooks", {"url": url_for(address)}).status_code == 201, address
    assert bot.post("/webhooks", {"url": "https://hooks.example.org/in"}).status_code == 201


def test_loopback_is_allowed_with_the_setting_and_the_metadata_service_never(make_bot):
    bot = make_bot("events:read", "webhooks:manage")
    assert bot.post("/webhooks", {"url": "http://127.0.0.1:9/hook"}).status_code == 201
    assert bot.post("/webhooks", {"url": "http://localhost:9/hook"}).status_code == 201
    metadata = bot.post("/webhooks", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert metadata.status_code == 422
    assert "never sent there" in metadata.json()["detail"]


def test_changing_the_url_is_checked_too(make_bot, strict):
    bot = make_bot("events:read", "webhooks:manage")
    made = bot.post("/webhooks", {"url": "https://hooks.example.org/in"}).json()
    answer = bot.patch(f"/webhooks/{made['id']}", {"url": "http://10.0.0.7:6379/"})
    assert answer.status_code == 422
    assert "a private address" in answer.json()["detail"]
    assert WebhookEndpoint.objects.get().url == "https://hooks.example.org/in"


def test_the_command_refuses_with_one_line(strict):
    key = create_key(label="hooks", scopes=["events:read"]).key
    with pytest.raises(CommandError, match="a link-local address"):
        call_command(
            "webhook",
            "create",
            "--key",
            key.prefix,
            "--url",
            "http://169.254.169.254/",
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="a loopback address"):
        call_command(
            "webhook",
            "create",
            "--key",
            key.prefix,
            "--url",
            "http://127.0.0.1:5432/",
            stdout=StringIO(),
        )
    assert not WebhookEndpoint.objects.exists()


def test_the_dashboard_says_why_and_will_not_enable_a_refused_url(settings):
    key = create_key(label="hooks", scopes=["events:read", "webhooks:manage"]).key
    endpoint = create_endpoint(key, url="http://127.0.0.1:9/hook").endpoint
    owner = logged_in(roles.OWNER)
    page = owner.get(f"/dashboard/api-keys/webhooks/{endpoint.pk}/").content.decode()
    assert "data-refused" not in page
    token = CSRF.search(page)[1]
    enable = f"/dashboard/api-keys/webhooks/{endpoint.pk}/enable"
    assert owner.post(enable, {"csrfmiddlewaretoken": token, "enabled": "0"}).status_code == 302
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    page = owner.get(f"/dashboard/api-keys/webhooks/{endpoint.pk}/").content.decode()
    assert "Deliveries to this URL are refused" in page
    assert "a loopback address" in page
    refused = owner.post(enable, {"csrfmiddlewaretoken": token, "enabled": "1"})
    assert refused.status_code == 422
    assert "a loopback address" in refused.content.decode()
    assert not WebhookEndpoint.objects.get().enabled


# --- at delivery time ---------------------------------------------------------------------


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def endpoint_at(url: str, receiver: Receiver) -> WebhookEndpoint:
    key = create_key(label="hook bot", scopes=["events:read", "webhooks:manage"]).key
    created = create_endpoint(key, url=url)
    receiver.secret = created.secret
    register_member(platform="web", external_id="guarded")
    assert delivery.enqueue_all() >= 1
    return created.endpoint


def attempts(endpoint: WebhookEndpoint) -> list[WebhookAttempt]:
    return list(WebhookAttempt.objects.filter(delivery__endpoint=endpoint).order_by("pk"))


def test_a_name_resolving_to_a_refused_address_is_not_sent_and_fails_as_any_failure(
    receiver, settings
):
    endpoint = endpoint_at(f"http://localhost:{receiver.port}/hook", receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False  # the system resolves localhost
    for _ in range(3):  # the first try and the schedule's two retries
        delivery.tick()
        time.sleep(0.06)
    assert receiver.requests == 0
    log = attempts(endpoint)
    assert len(log) == 3
    assert all(a.status_code is None and not a.ok for a in log)
    assert log[0].error.startswith("AddressRefused: localhost: ")
    assert "a loopback address" in log[0].error
    endpoint.refresh_from_db()
    head = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("seq").first()
    assert head.status == "failed"
    assert not endpoint.enabled
    assert "retries ran out" in endpoint.disabled_reason


def test_a_literal_address_refused_since_registration_is_not_sent(receiver, settings):
    endpoint = endpoint_at(receiver.url, receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    delivery.tick()
    assert receiver.requests == 0
    assert attempts(endpoint)[0].error.startswith("AddressRefused: 127.0.0.1 is a loopback")


def test_the_request_goes_to_the_address_that_was_checked(receiver):
    endpoint = endpoint_at(f"http://hooks.example.test:{receiver.port}/hook", receiver)
    answer = ["127.0.0.1"]
    asked = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(answer)

    assert delivery.deliver_endpoint(endpoint.pk, resolver=rebinding) >= 1
    assert asked == [("hooks.example.test", receiver.port)] * len(asked)
    assert len(asked) == len(receiver.accepted)  # one lookup per request, then that address
    answer[:] = ["169.254.169.254"]  # the name now points at the metadata service
    register_member(platform="web", external_id="guarded-2")
    delivery.enqueue_all()
    assert delivery.deliver_endpoint(endpoint.pk, resolver=rebinding) == 0
    assert "hooks.example.test: 169.254.169.254 is a link-local" in attempts(endpoint)[-1].error


def test_one_refused_address_among_allowed_ones_refuses_the_name(receiver, settings):
    endpoint = endpoint_at(f"http://hooks.example.test:{receiver.port}/hook", receiver)

    def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "fd00:ec2::254"]

    assert delivery.deliver_endpoint(endpoint.pk, resolver=mixed) == 0
    assert receiver.requests == 0
    assert "fd00:ec2::254 is a cloud metadata address" in attempts(endpoint)[0].error


def test_the_next_address_is_tried_when_one_refuses_the_connection(receiver):
    endpoint = endpoint_at(f"http://hooks.example.test:{receiver.port}/hook", receiver)

    def two(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on .2

    assert delivery.deliver_endpoint(endpoint.pk, resolver=two) >= 1
    assert receiver.accepted
    assert receiver.rejected == []


def test_https_goes_to_the_checked_address_and_verifies_the_name(monkeypatch, tmp_path):
    """A TLS receiver with a certificate for hooks.example.test, reached at 127.0.0.1:
    the name is sent for SNI and verified; another name for the same address is refused."""
    certificate = self_signed(tmp_path, "hooks.example.test")
    monkeypatch.setattr(netguard, "CA_BUNDLE", str(certificate[0]))
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            hosts.append(self.headers["Host"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        loopback = lambda host, port: ["127.0.0.1"]  # noqa: E731
        url = f"https://hooks.example.test:{port}/in"
        assert netguard.post(url, b"{}", {}, timeout=5, resolver=loopback) == 204
        assert hosts == [f"hooks.example.test:{port}"]
        for wrong in (f"https://other.example.test:{port}/in", f"https://127.0.0.1:{port}/in"):
            with pytest.raises(urllib3.exceptions.SSLError):
                netguard.post(wrong, b"{}", {}, timeout=5, resolver=loopback)
        assert len(hosts) == 1
    finally:
        server.shutdown()
        server.server_close()


def self_signed(folder, name: str):
    """(certificate file, key file) for `name`, made with `cryptography` (installed with
    the stack; the test is skipped without it)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
