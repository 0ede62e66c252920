"""Prometheus: the text exposition of runs' samples, and the push to a Pushgateway.

The exposition is always ``prometheus_client``'s own (a :class:`CollectorRegistry` over a collector
yielding one ``GaugeMetricFamily`` per catalogue metric, rendered by ``generate_latest``), never
text written here. ``prometheus_client`` comes with the ``observability`` extra; it is imported
inside the functions so this module imports without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from dpone_core.errors import DponeConnectionError
from dpone_core.observability import names
from dpone_core.observability.samples import RunSamples, Sample

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

STEP = "push-gateway"
Handler = Callable[..., Callable[[], None]]


@dataclass(frozen=True, eq=False)  # the registry keys collectors by identity
class _Collector:
    """Yields one gauge family per catalogue metric that has samples (a ``prometheus_client`` Collector)."""

    samples: tuple[Sample, ...]

    def collect(self) -> Iterator[Metric]:
        """The families, in catalogue order."""
        from prometheus_client.core import GaugeMetricFamily

        for metric in names.ALL:
            found = [s for s in self.samples if s.metric == metric]
            if not found:
                continue  # e.g. no cursor lag: an empty family would only add HELP/TYPE lines
            family = GaugeMetricFamily(metric.name, metric.help, labels=list(metric.labels))
            for sample in found:
                family.add_metric([sample.labels.get(label, "") for label in metric.labels], sample.value)
            yield family


def registry_of(runs: Sequence[RunSamples]) -> CollectorRegistry:
    """A registry holding every sample of ``runs`` (one label set per process)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(tuple(s for run in runs for s in run.samples)))
    return registry


def exposition(runs: Sequence[RunSamples]) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of ``runs``."""
    from prometheus_client import generate_latest

    return generate_latest(registry_of(runs))


def without_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without ``user:password@``, and the user and password it carried.

    >>> without_credentials("https://bob:pw@gw.example:9091/base")
    ('https://gw.example:9091/base', 'bob', 'pw')
    """
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        user, password, host = parts.username, parts.password, parts.hostname
        port = parts.port
    except ValueError:
        return url.rpartition("@")[2], None, None
    netloc = (f"[{host}]" if host and ":" in host else host or "") + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), user, password


def push(runs: Sequence[RunSamples], gateway: str, *, job: str = "dpone", timeout: float = 10.0) -> list[str]:
    """PUT each run's samples under grouping key ``job``/``process``; returns the URLs pushed to.

    PUT replaces what the group held, which is what a gauge of "the latest run" means. A gateway
    that cannot be reached or refuses is a :class:`DponeConnectionError` naming the URL without
    credentials (the user and password travel as basic auth instead).
    """
    from prometheus_client import push_to_gateway

    url, user, password = without_credentials(gateway)
    pushed: list[str] = []
    for run in runs:
        try:
            push_to_gateway(
                url,
                job=job,
                registry=registry_of([run]),
                grouping_key={"process": run.process},
                timeout=timeout,
                handler=_handler(pushed, user, password),
            )
        except (OSError, ValueError) as exc:
            raise DponeConnectionError(
                f"cannot push the metrics of {run.process} to {url}: {_reason(exc)}",
                step=STEP,
                fix="check the Pushgateway URL and that it is up",
            ) from None
    return pushed


def _handler(pushed: list[str], user: str | None, password: str | None) -> Handler:
    """prometheus_client's handler (basic auth when the URL carried a user), noting each URL it sends to."""
    from prometheus_client.exposition import basic_auth_handler, default_handler

    def send(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        pushed.append(url)
        if user is None:
            return default_handler(url, method, timeout, headers, data)
        return basic_auth_handler(url, method, timeout, headers, data, user, password)

    return send


def _reason(exc: BaseException) -> str:
    """The first line of why a request failed (``URLError`` keeps it in ``reason``)."""
    reason = getattr(exc, "reason", None) or exc
    return str(reason).splitlines()[0] if str(reason) else type(exc).__name__
