"""Where a webhook may be sent (the SSRF guard): a key holder chooses the URL, so without
this Concord's sender could be made to POST to the cloud's metadata service, the database
host or an admin port on the loopback.

    always refused   non-http(s) schemes; link-local (169.254.0.0/16, fe80::/10, which
                     holds 169.254.169.254), the metadata addresses (fd00:ec2::254,
                     100.100.100.200), multicast, unspecified (0.0.0.0/8, ::), broadcast
    refused when     loopback and private ranges (127/8, 10/8, 172.16/12, 192.168/16,
    WEBHOOK_ALLOW_   100.64/10, fc00::/7, ::1) and anything else not globally routable
    PRIVATE_NETWORKS (reserved, documentation ranges); allowed by default: a community's
    is 0             own bots on its host or LAN are its first receivers

Checked twice: at registration (`check_target`: a literal address or `localhost` in the
URL; a name is resolved only when sending) and at every attempt (`post`): the host is
resolved once, every address it has is checked, and the request goes to a checked address
(the URL's host kept in `Host` and for TLS), so a DNS answer that changes between the check
and the connection (rebinding) is never used. An IPv6 address holding an IPv4 one
(IPv4-mapped, NAT64, 6to4) is judged as that IPv4 address. Proxies from the environment
are not used (they would resolve on their own).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

SCHEMES = {"http": 80, "https": 443}
ALWAYS = [
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
        ("fd00:ec2::254/128", "cloud metadata"),
        ("100.100.100.200/32", "cloud metadata"),  # inside 100.64/10, refused even so
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("255.255.255.255/32", "broadcast"),
    )
]
PRIVATE = [
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("fc00::/7", "private"),
    )
]

NAT64 = ipaddress.ip_network("64:ff9b::/96")
CA_BUNDLE = certifi.where()  # what an https endpoint's certificate is verified against
Resolver = Callable[[str, int], list[str]]


class AddressRefused(Exception):
    """The URL's scheme or one of its host's addresses is not one webhooks are sent to."""


def refusal(address: str, *, allow_private: bool | None = None) -> str | None:
    """Why `address` (an IP address) is refused, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:  # an IPv4 address inside an IPv6 one is judged as itself
        if ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        else:
            ip = ip.ipv4_mapped or ip.sixtofour or ip
    for network, label in ALWAYS:
        if ip in network:
            return f"{ip} is a {label} address: webhooks are never sent there"
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    if allow_private:
        return None
    label = next((label for network, label in PRIVATE if ip in network), None)
    if label is None and not ip.is_global:
        label = "reserved"
    if label is None:
        return None
    return (
        f"{ip} is a {label} address: webhooks are not sent there"
        " (WEBHOOK_ALLOW_PRIVATE_NETWORKS is off)"
    )


def check_target(url: str) -> None:
    """At registration: refuse a scheme other than http(s), a refused literal address,
    and `localhost` (a loopback name) while private networks are not allowed."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise AddressRefused(f"{parts.scheme or '(none)'!r} is not http or https")
    host = (parts.hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    if not _is_ip(host):
        return  # a name: its addresses are checked at every attempt
    reason = refusal(host)
    if reason:
        raise AddressRefused(reason)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` has (the system's resolver), in its order of preference."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in found))


def checked_addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """The host's addresses, each checked; AddressRefused if any is refused (a name that
    has one internal address among public ones could be pointed at it)."""
    addresses = [host] if _is_ip(host) else resolver(host, port)
    if not addresses:
        raise AddressRefused(f"{host} has no address")
    for address in addresses:
        reason = refusal(address)
        if reason:
            raise AddressRefused(reason if address == host else f"{host}: {reason}")
    return addresses


def post(
    url: str, body: bytes, headers: dict, *, timeout: float, resolver: Resolver | None = None
) -> int:
    """POST `body` to `url` at a checked address of its host (no redirects, no proxy);
    the response's status code. AddressRefused before anything is sent."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise AddressRefused(f"{scheme or '(none)'!r} is not http or https")
    host, port = parts.hostname or "", parts.port or SCHEMES[scheme]
    addresses = checked_addresses(host, port, resolver or resolve)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    if parts.username is not None:
        credentials = f"{parts.username}:{parts.password or ''}"
        headers |= urllib3.util.make_headers(basic_auth=credentials)
    for n, address in enumerate(addresses):
        pool = _pool(scheme, address, port, host, timeout)
        try:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                preload_content=False,  # the status is the answer: the body is never read
            )
            response.close()
            return response.status
        except urllib3.exceptions.NewConnectionError:
            if n == len(addresses) - 1:
                raise  # the last address refused too: this attempt's error
        finally:
            pool.close()
    raise AssertionError("unreachable")


def _pool(scheme: str, address: str, port: int, host: str, timeout: float):
    if scheme == "http":
        return urllib3.HTTPConnectionPool(address, port, timeout=timeout, maxsize=1)
    named = host != address and not _is_ip(host)
    return urllib3.HTTPSConnectionPool(
        address,
        port,
        timeout=timeout,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        ca_certs=CA_BUNDLE,
        server_hostname=host if named else None,
        assert_hostname=host if named else None,
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
