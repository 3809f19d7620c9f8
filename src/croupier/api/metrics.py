"""Prometheus metrics, served at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per app, so that tests (and several apps in one process) never mix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._stuck_providers: set[str] = set()
        self.wallet_call_seconds = Histogram(
            "croupier_wallet_call_seconds",
            "Wallet API call latency, by provider, call and outcome (OK or the error code).",
            ["provider", "call", "outcome"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.replays = Counter(
            "croupier_wallet_replays_total",
            "Calls answered from the idempotency store (a duplicate of an earlier call).",
            ["provider", "call"],
            registry=self.registry,
        )
        self.mismatches = Counter(
            "croupier_wallet_idempotency_mismatches_total",
            "Calls reusing a transaction id with different content (IDEMPOTENCY_MISMATCH).",
            ["provider", "call"],
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "croupier_signature_failures_total",
            "Requests refused before parsing: bad, missing, expired or replayed signatures.",
            ["provider", "code"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "croupier_alerts_total",
            "Anomaly signals raised: bet_rate, big_win, refusal_burst, round_timeout.",
            ["kind"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "croupier_webhooks_total",
            "Webhook deliveries by outcome: STORED, DUPLICATE, or the refusal's code.",
            ["outcome"],
            registry=self.registry,
        )
        self.round_timeouts = Counter(
            "croupier_round_timeouts_total",
            "Rounds left open beyond their provider's threshold, by the action taken: close, "
            "void or flag.",
            ["action"],
            registry=self.registry,
        )
        self.stuck_sessions = Gauge(
            "croupier_stuck_sessions",
            "Sessions in pending_settlement beyond their provider's round threshold, at the "
            "timeout job's last pass.",
            ["provider"],
            registry=self.registry,
        )
        self.internal_errors = Counter(
            "croupier_internal_errors_total",
            "Requests that hit an unexpected error (a bug): answered 500 INTERNAL_ERROR.",
            registry=self.registry,
        )

    def observe_timeouts(self, actions: dict[str, int], stuck: dict[str, int]) -> None:
        """One pass of the timeout job: actions counted, stuck sessions set (to 0 where a
        provider has none left)."""
        for action, count in actions.items():
            self.round_timeouts.labels(action).inc(count)
        self._stuck_providers |= stuck.keys()
        for provider in self._stuck_providers:
            self.stuck_sessions.labels(provider).set(stuck.get(provider, 0))
