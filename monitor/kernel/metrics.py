"""Every Prometheus metric, defined once and built into a registry that is passed around."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class Structure:
    """A structure the dispatcher keeps in memory, as its gauges report it: how many entries it
    holds now (`entries`), at most how many (`bound`), what one entry costs (`entry_bytes`,
    measured: see docs/performance.md) and how many it has evicted to stay within the bound."""

    name: str
    entries: Callable[[], int]
    bound: int
    entry_bytes: int
    evicted: Callable[[], int]


@dataclass(slots=True, eq=False)  # registered by identity
class Structures(Collector):
    """The dispatcher's bounded structures, read when /metrics is scraped (no bookkeeping on
    the hot path): `monitor_dispatcher_entries`, `_bytes`, `_bound`, `_bound_bytes` and
    `_evicted_total`, each by `structure`."""

    watched: dict[str, Structure] = field(default_factory=dict)

    def watch(self, structure: Structure) -> None:
        """Report `structure` (replacing one of the same name)."""
        self.watched[structure.name] = structure

    def collect(self) -> Iterator[Metric]:
        """The families, one sample per structure."""
        label = ["structure"]
        entries = GaugeMetricFamily(
            "monitor_dispatcher_entries",
            "Entries the dispatcher keeps in memory now, by structure (story_members, "
            "story_tallies, matched_pairs, story_reasons, story_aliases, recent_alerts).",
            labels=label,
        )
        size = GaugeMetricFamily(
            "monitor_dispatcher_bytes",
            "Estimated bytes of each structure: its entries times the measured cost of one.",
            labels=label,
        )
        bound = GaugeMetricFamily(
            "monitor_dispatcher_bound",
            "The most entries each structure keeps (beyond it the oldest are evicted).",
            labels=label,
        )
        bound_bytes = GaugeMetricFamily(
            "monitor_dispatcher_bound_bytes",
            "Estimated bytes of each structure when full.",
            labels=label,
        )
        evicted = CounterMetricFamily(
            "monitor_dispatcher_evicted",
            "Entries evicted from each structure, by age (the window) or by its bound.",
            labels=label,
        )
        for s in self.watched.values():
            n = s.entries()
            entries.add_metric([s.name], n)
            size.add_metric([s.name], n * s.entry_bytes)
            bound.add_metric([s.name], s.bound)
            bound_bytes.add_metric([s.name], s.bound * s.entry_bytes)
            evicted.add_metric([s.name], s.evicted())
        yield from (entries, size, bound, bound_bytes, evicted)


@dataclass(frozen=True, slots=True)
class Metrics:
    """The service's metrics. Labels are bounded sets: feed ids, rule ids, channel names."""

    registry: CollectorRegistry
    polls: Counter
    poll_duration: Histogram
    articles_published: Counter
    articles_too_old: Counter
    articles_by_language: Counter
    fulltext: Counter
    fulltext_jobs: Gauge
    feeds_failing: Gauge
    rule_matches: Counter
    alerts: Counter
    delivery_duration: Histogram
    fetch_to_alert: Histogram
    dlq_size: Gauge
    rules_loaded: Gauge
    entities_loaded: Gauge
    feeds_loaded: Gauge
    bad_records: Counter
    articles_cut_off: Counter
    storage_full: Gauge
    bus_connected: Gauge
    consumer_lag: Gauge
    feed_parses: Counter
    rules_reload: Counter
    rules_last_success: Gauge
    rules_stale: Gauge
    shadow_matches: Counter
    rule_cost: Gauge
    story_articles: Counter
    stories_open: Gauge
    held_alerts: Gauge
    channel_up: Gauge
    http_refused: Counter
    structures: Structures


def make_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Build the metrics into `registry` (a fresh one by default)."""
    r = registry if registry is not None else CollectorRegistry()
    structures = Structures()
    r.register(structures)
    return Metrics(
        registry=r,
        polls=Counter(
            "monitor_polls_total",
            "Feed polls by feed and result (ok, not_modified, http_error, network_error, "
            "parse_error, too_large, redirect_refused, address_refused, gone, disabled, bus_error, "
            "storage_full, internal_error).",
            ["feed", "result"],
            registry=r,
        ),
        poll_duration=Histogram(
            "monitor_poll_duration_seconds",
            "Time to fetch and parse a feed.",
            ["feed"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        ),
        feed_parses=Counter(
            "monitor_feed_parses_total",
            "Feed documents parsed, by parser: lxml (the fast path), feedparser (the fallback, "
            "for documents the fast path declines) or json.",
            ["parser"],
            registry=r,
        ),
        articles_published=Counter(
            "monitor_articles_published_total",
            "New articles published to the bus.",
            ["feed"],
            registry=r,
        ),
        articles_too_old=Counter(
            "monitor_articles_too_old_total",
            "Items a feed's first poll recorded without publishing: older than max_age.",
            ["feed"],
            registry=r,
        ),
        articles_by_language=Counter(
            "monitor_articles_total",
            "New articles published to the bus, by language (declared or detected; `und` when"
            " unknown).",
            ["language"],
            registry=r,
        ),
        fulltext=Counter(
            "monitor_fulltext_total",
            "Article pages read for full text, by result: fetched, cached, robots (disallowed),"
            " refused (address policy), failed, timeout, too_large, busy (the extraction workers"
            " all busy), not_html, empty, error.",
            ["result"],
            registry=r,
        ),
        fulltext_jobs=Gauge(
            "monitor_fulltext_jobs",
            "Pages in the extraction workers (fulltext.workers at most) and waiting for one"
            " (fulltext.queue at most; beyond it a page fails `busy`), by state: running, waiting.",
            ["state"],
            registry=r,
        ),
        feeds_failing=Gauge(
            "monitor_feeds_failing",
            "Feeds whose last poll failed (or that are disabled).",
            registry=r,
        ),
        rule_matches=Counter(
            "monitor_rule_matches_total", "Articles matched, by rule.", ["rule"], registry=r
        ),
        alerts=Counter(
            "monitor_alerts_total",
            "Alerts by channel and result (delivered, retried, dead, duplicate, folded, held, "
            "digested, summarized, waiting: held while the channel is down, muted: kept back "
            "by a silence).",
            ["channel", "result"],
            registry=r,
        ),
        delivery_duration=Histogram(
            "monitor_delivery_duration_seconds",
            "Time of one delivery attempt.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        ),
        fetch_to_alert=Histogram(
            "monitor_fetch_to_alert_seconds",
            "From an article's fetch to its alert's delivery.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        ),
        dlq_size=Gauge(
            "monitor_dlq_size",
            "Dead letters not yet retried or dropped, by channel ('-': unreadable records).",
            ["channel"],
            registry=r,
        ),
        rules_loaded=Gauge("monitor_rules_loaded", "Enabled rules in force.", registry=r),
        entities_loaded=Gauge("monitor_entities_loaded", "Entities in force.", registry=r),
        feeds_loaded=Gauge("monitor_feeds_loaded", "Enabled feeds.", registry=r),
        rules_reload=Counter(
            "monitor_rules_reload_total",
            "Rule reloads by result (ok, error).",
            ["result"],
            registry=r,
        ),
        rules_last_success=Gauge(
            "monitor_rules_last_success_timestamp_seconds",
            "When the rules in force were loaded.",
            registry=r,
        ),
        rules_stale=Gauge(
            "monitor_rules_stale",
            "1 while the rule files on disk are not in force (the last reload failed).",
            registry=r,
        ),
        shadow_matches=Counter(
            "monitor_shadow_matches_total",
            "Would-be alerts of rules in shadow mode, by rule.",
            ["rule"],
            registry=r,
        ),
        consumer_lag=Gauge(
            "monitor_consumer_lag",
            "Records not yet committed, by consumer group and partition (this process's share).",
            ["group", "partition"],
            registry=r,
        ),
        bad_records=Counter(
            "monitor_bad_records_total",
            "Bus records that could not be decoded, or matched, by topic.",
            ["topic"],
            registry=r,
        ),
        storage_full=Gauge(
            "monitor_storage_full",
            "1 while the disk of a state file is full: no new work is taken until it has room.",
            registry=r,
        ),
        bus_connected=Gauge(
            "monitor_bus_connected",
            "1 while the bus answers (on Kafka: the broker answered the last probe or publish; "
            "two probes without an answer, or one failed publish, make it 0).",
            registry=r,
        ),
        articles_cut_off=Counter(
            "monitor_articles_cut_off_total",
            "Articles whose matching outran its time budget and was stopped (no alerts sent).",
            registry=r,
        ),
        rule_cost=Gauge(
            "monitor_rule_cost_seconds",
            "Match time per article of the costliest rules (each alone, over the last articles "
            "matched; measured after each reload and hourly).",
            ["rule"],
            registry=r,
        ),
        story_articles=Counter(
            "monitor_story_articles_total",
            "Matched articles placed in stories: founding a story, joining one as a copy, or alone "
            "(their feed says stories: false).",
            ["outcome"],
            registry=r,
        ),
        held_alerts=Gauge(
            "monitor_held_alerts",
            "Alerts held for a digest, through quiet hours, beyond a throttle or while their "
            "channel is down, by channel.",
            ["channel"],
            registry=r,
        ),
        channel_up=Gauge(
            "monitor_channel_up",
            "1 while the channel takes alerts, 0 while it is down or alerts wait for it.",
            ["channel"],
            registry=r,
        ),
        stories_open=Gauge(
            "monitor_stories_open_articles",
            "Articles in the stories of the window (what copies are compared with).",
            registry=r,
        ),
        http_refused=Counter(
            "monitor_http_refused_total",
            "Requests the HTTP listener refused by reason: host (a Host it does not serve), "
            "token (a wrong token), throttled (an address waiting after wrong tokens).",
            ["reason"],
            registry=r,
        ),
        structures=structures,
    )
