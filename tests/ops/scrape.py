"""Reading `/metrics` over HTTP, as Prometheus would, with prometheus-client's parser."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(base: str, token: str | None = None) -> dict[tuple[str, frozenset], float]:
    """Every sample of `{base}/metrics`: (sample name, its labels) -> value."""
    status, text = fetch(f"{base}/metrics", token)
    assert status == 200, text[:500]
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, metric: str, /, **labels) -> float:
    """The sample `metric` with these labels (a label left out: summed over it)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == metric and wanted <= ls)


def has(samples: dict, metric: str, /, **labels) -> bool:
    wanted = set(labels.items())
    return any(n == metric and wanted <= ls for (n, ls) in samples)
