"""What the figures were measured on, and CPU counters for a measured window."""

from __future__ import annotations

import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _first(path: str, pattern: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1).strip() if found else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe(pgbench: str | None, server_version: str | None) -> dict[str, object]:
    """The machine and the software under test, for the report and docs/benchmarks.md."""
    mem_kb = _first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    pgbench_version = None
    if pgbench:
        out = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            [pgbench, "--version"], capture_output=True, text=True, check=False, timeout=10
        )
        pgbench_version = out.stdout.strip() or None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$"),
        "ram_gib": round(int(mem_kb) / 2**20, 1) if mem_kb else None,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "postgresql": server_version,
        "pgbench": pgbench_version,
        "asyncpg": _version("asyncpg"),
    }


SHARED_POSTGRES = ("walwriter", "checkpointer", "background writer")
"""Server processes that work for every database: counted as the benchmark's server time."""


def _ticks(pid: str) -> int:
    """utime + stime of a process in clock ticks; 0 when it has gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0
    fields = raw.rpartition(") ")[2].split()
    return int(fields[11]) + int(fields[12])  # after "pid (comm) ": state=0 ... utime=11


def process_cpu(pid: int) -> float:
    return _ticks(str(pid)) / CLOCK_TICKS


def _stat(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return raw.rpartition(") ")[2].split()  # after "pid (comm) ": state=0 ppid=1 utime=11


def process_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds so far of a process and its live children (the workers of
    `croupier run --workers N`); zeros when it has gone."""
    user = system = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields is not None and (entry.name == str(pid) or fields[1] == str(pid)):
            user, system = user + int(fields[11]), system + int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def postgres_cpu(database: str | None) -> float:
    """CPU seconds so far of the local PostgreSQL backends connected to ``database`` (their
    process title names it) and of the server's shared writers. Other databases' backends,
    such as test suites running beside the benchmark, are left out."""
    if database is None:
        return 0.0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if not title.startswith("postgres: "):
            continue
        words = title.split()
        if database in words[1:5] or any(name in title for name in SHARED_POSTGRES):
            total += _ticks(entry.name)
    return total / CLOCK_TICKS


def busy_fraction(seconds: float) -> float:
    """Fraction of all cores busy over the next ``seconds`` (the benchmark being idle)."""
    before = CpuSample.take()
    time.sleep(seconds)
    cpu = CpuSample.take() - before
    return cpu.machine_busy / cpu.machine_total if cpu.machine_total else 0.0


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds (user + system) of the load driver (this process, or a child such as
    pgbench), of the benchmark's PostgreSQL backends, and busy and total time of all cores."""

    client: float
    server: float
    machine_busy: float
    machine_total: float

    @classmethod
    def take(cls, *, database: str | None = None, pid: int | None = None) -> CpuSample:
        if pid is None:
            own = resource.getrusage(resource.RUSAGE_SELF)
            client = own.ru_utime + own.ru_stime
        else:
            client = process_cpu(pid)
        busy = total = 0.0
        line = _first("/proc/stat", r"^cpu\s+(.+)$")
        if line:
            # user nice system idle iowait irq softirq steal: steal is the hypervisor's, idle
            # and iowait are idle; guest time is already inside user
            user, nice, system, idle, iowait, irq, softirq, steal = (
                int(x) for x in line.split()[:8]
            )
            busy = (user + nice + system + irq + softirq) / CLOCK_TICKS
            total = (busy * CLOCK_TICKS + idle + iowait + steal) / CLOCK_TICKS
        return cls(
            client=client,
            server=postgres_cpu(database),
            machine_busy=busy,
            machine_total=total,
        )

    def __sub__(self, earlier: CpuSample) -> CpuSample:
        return CpuSample(
            client=self.client - earlier.client,
            server=self.server - earlier.server,
            machine_busy=self.machine_busy - earlier.machine_busy,
            machine_total=self.machine_total - earlier.machine_total,
        )
