"""The server side of the load benchmark: start and stop the production-like stack on loopback.

Two layouts (README, "Read lane"):

* ``single``: one gunicorn serves everything, clients connect to it directly;
* ``lanes``: HAProxy with the shipped ``deploy/haproxy.cfg`` in front; API reads go to a second, small
  gunicorn started with ``MDM_SERVER_LANE=read``, everything else to the main gunicorn, which runs with
  the Celery worker at a lower CPU priority (``nice``), as the README tells production to run them.

Every process starts in its own process group, so that stopping it leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CONFIG = PROJECT_ROOT / "deploy" / "haproxy.cfg"


@dataclass
class Stack:
    url: str
    """Where the load generator connects: HAProxy's frontend, or the one gunicorn."""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    """Part name (as the CPU report names it) → its process, the leader of its process group."""

    def groups(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def describe(self, server: argparse.Namespace) -> str:
        main = f"gunicorn ({server.workers} {server.worker_class} workers × {server.threads} threads)"
        worker = f"Celery worker ({server.worker_concurrency} threads)"
        if server.layout == "single":
            return f"{main} on {self.url} (plain HTTP), {worker}"
        return (
            f"HAProxy (deploy/haproxy.cfg) on {self.url} (plain HTTP): API reads to the read lane, gunicorn "
            f"({server.read_workers} workers, MDM_SERVER_LANE=read); everything else to the main {main}; "
            f"main gunicorn and {worker} at niceness {server.nice}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def lower_priority(niceness: int) -> None:
    """In the child, after ``setsid``: this process's niceness, and its session's where the kernel groups
    sessions (``sched_autogroup``): there, processes of different sessions share the CPU as groups, each
    at its group's niceness, whatever their own (sched(7), "The autogroup feature")."""
    os.nice(niceness)
    with contextlib.suppress(OSError):  # a kernel without autogroups
        Path("/proc/self/autogroup").write_text(str(niceness))


def haproxy_available() -> bool:
    return shutil.which("haproxy") is not None


def start(env: dict[str, str], server: argparse.Namespace, logs: Path) -> Stack:
    """The stack of ``server.layout``, listening once this returns (exits the script if a part does not)."""
    bin_dir = Path(sys.executable).parent

    def gunicorn(port: int, workers: int) -> list[str]:
        return [str(bin_dir / "gunicorn"), "mdm_project.wsgi:application", "--workers", str(workers),
                "--worker-class", server.worker_class, "--threads", str(server.threads),
                "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--keep-alive", "5"]  # fmt: skip

    worker = [str(bin_dir / "celery"), "-A", "mdm_project", "worker", "--loglevel", "WARNING",
              "--pool", "threads", "--concurrency", str(server.worker_concurrency)]  # fmt: skip
    main_port = free_port()
    # name → (command, extra environment, niceness, port it listens on or 0)
    parts: dict[str, tuple[list[str], dict[str, str], int, int]] = {}
    if server.layout == "single":
        parts["gunicorn"] = (gunicorn(main_port, server.workers), {}, 0, main_port)
        parts["worker"] = (worker, {}, 0, 0)
        url = f"http://127.0.0.1:{main_port}"
    else:
        read_port, proxy_port = free_port(), free_port()
        parts["gunicorn"] = (gunicorn(main_port, server.workers), {}, server.nice, main_port)
        parts["read lane"] = (gunicorn(read_port, server.read_workers), {"MDM_SERVER_LANE": "read"}, 0, read_port)
        parts["worker"] = (worker, {}, server.nice, 0)
        proxy_env = {
            "MDM_PROXY_BIND": f"127.0.0.1:{proxy_port}",
            "MDM_MAIN_SERVER": f"127.0.0.1:{main_port}",
            "MDM_MAIN_WORKERS": str(server.workers * server.threads),
            "MDM_READ_SERVER": f"127.0.0.1:{read_port}",
            "MDM_READ_WORKERS": str(server.read_workers * server.threads),
        }
        parts["haproxy"] = (["haproxy", "-f", str(HAPROXY_CONFIG), "-db"], proxy_env, 0, proxy_port)
        url = f"http://127.0.0.1:{proxy_port}"
    stack = Stack(url=url)
    # The proxy last, once the pools listen: its first health check would otherwise mark the lane down
    # and send the reads to the main pool until the lane's checks pass again.
    for phase in ([name for name in parts if name != "haproxy"], [name for name in parts if name == "haproxy"]):
        for name in phase:
            command, extra, niceness, _ = parts[name]
            log = open(logs / f"{name.replace(' ', '-')}.log", "w")  # noqa: SIM115 - closed with the process
            stack.processes[name] = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env={**env, **extra}, stdout=log, stderr=log, start_new_session=True,
                preexec_fn=(lambda n=niceness: lower_priority(n)) if niceness else None,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        waiting = {name: parts[name][3] for name in phase if parts[name][3]}
        while waiting and time.monotonic() < deadline:
            waiting = {name: port for name, port in waiting.items() if not port_open(port)}
            time.sleep(0.2)
        if waiting:
            stop(stack)
            sys.exit(f"{', '.join(waiting)} did not listen in 60 s; see the logs in {logs}")
    return stack


def stop(stack: Stack | list[subprocess.Popen]) -> None:
    """SIGTERM to each started process group, SIGKILL after 20 s."""
    processes = list(stack.processes.values()) if isinstance(stack, Stack) else stack
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
