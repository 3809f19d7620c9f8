"""What one measured run yields, and the arithmetic on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.machine import CpuSample


def percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100); 0 for an empty list."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


@dataclass(frozen=True, slots=True)
class Figures:
    stack: str
    """``service/sqlite``, ``service/postgres`` or ``pgbench/postgres``."""
    connections: int
    """Concurrent bets in flight: asyncio tasks (and pool size) or pgbench clients."""
    seconds: float
    """Length of the measured window (after warm-up)."""
    bets: int
    """Bets completed inside the window."""
    p50_ms: float
    p99_ms: float
    mean_ms: float
    client_cpu_us: float
    """CPU (user + system) of the load-driving process per bet: the Python process running the
    service, or pgbench. On SQLite the database engine runs inside the Python process too."""
    server_cpu_us: float
    """CPU of the local PostgreSQL server's processes per bet (0 on SQLite)."""
    machine_cpu_us: float
    """Busy time of all cores per bet: client, database server, kernel."""
    machine_busy: float
    """Fraction of all cores busy during the window."""
    other_busy: float
    """Fraction of all cores busy with neither the client nor the benchmark's server processes:
    kernel work not charged to a process, and any other load on the machine (it should be
    small; when it is not, the run shared the machine and its figures are low)."""

    @property
    def bets_per_s(self) -> float:
        return self.bets / self.seconds if self.seconds else 0.0

    @classmethod
    def build(
        cls,
        *,
        stack: str,
        connections: int,
        seconds: float,
        bets: int,
        latencies_us: list[int],
        cpu: CpuSample,
    ) -> Figures:
        ordered = sorted(latencies_us)
        per_bet = 1e6 / bets if bets else 0.0
        total = cpu.machine_total or 1.0
        return cls(
            stack=stack,
            connections=connections,
            seconds=seconds,
            bets=bets,
            p50_ms=percentile(ordered, 50) / 1000,
            p99_ms=percentile(ordered, 99) / 1000,
            mean_ms=(sum(ordered) / len(ordered) / 1000) if ordered else 0.0,
            client_cpu_us=cpu.client * per_bet,
            server_cpu_us=cpu.server * per_bet,
            machine_cpu_us=cpu.machine_busy * per_bet,
            machine_busy=cpu.machine_busy / total,
            other_busy=max(0.0, cpu.machine_busy - cpu.client - cpu.server) / total,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bets_per_s": self.bets_per_s}
