"""Where the CPU goes during a load step: per started process group, the bench database's backends, the machine.

Read from ``/proc`` (Linux): each process's ``utime + stime`` and the machine's busy time in ``/proc/stat``.
Two snapshots around the measured window give the cores each part used, process by process (a process
that started in between counts from its start); whatever the machine spent beyond the parts named here
(other jobs, PostgreSQL's background processes, processes that ended in between) is "other". It makes the
report say whether the server, the load generator or a neighbour filled the cores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
POSTGRES = "postgres"
MACHINE = "machine"


@dataclass
class Snapshot:
    at: float
    machine: float = 0.0
    """Every core's busy time so far, in seconds."""
    processes: dict[int, tuple[str, float]] = field(default_factory=dict)
    """pid → (part, CPU seconds used so far)."""


def _machine_busy() -> float:
    # cpu  user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS


def snapshot(groups: dict[str, int], database: str, at: float) -> Snapshot:
    """CPU seconds of every process whose process group is one of ``groups`` (name → pgid) and of the
    PostgreSQL backends serving ``database`` (their process title names it)."""
    taken = Snapshot(at=at, machine=_machine_busy())
    by_pgid = {pgid: name for name, pgid in groups.items()}
    marker = f" {database} ".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / TICKS  # after "(comm)": state ppid pgrp … utime stime
            name = by_pgid.get(int(fields[2]))
            if name is None and marker in Path(entry.path, "cmdline").read_bytes():
                name = POSTGRES
        except (OSError, IndexError, ValueError):
            continue  # ended while being read
        if name is not None:
            taken.processes[int(entry.name)] = (name, used)
    return taken


def cores_used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Average cores each part used between two snapshots, plus ``other`` (the machine minus the named parts)."""
    elapsed = max(after.at - before.at, 1e-9)
    cores = {name: 0.0 for name, _ in after.processes.values()}
    for pid, (name, used) in after.processes.items():
        earlier = before.processes.get(pid)
        cores[name] += (used - (earlier[1] if earlier and earlier[0] == name else 0.0)) / elapsed
    named = sum(cores.values())
    cores[MACHINE] = (after.machine - before.machine) / elapsed
    cores["other"] = max(0.0, cores[MACHINE] - named)
    return cores
