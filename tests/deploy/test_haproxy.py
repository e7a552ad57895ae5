"""The shipped ``deploy/haproxy.cfg`` routes API reads to the read lane and everything else to the main pool.

A real HAProxy (Debian's ``haproxy`` package) runs the file unchanged, its addresses from the environment
as in production; the two pools are stand-in HTTP servers on 127.0.0.1 that answer with their own name,
so each test sees which pool a request reached.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
INSTALL_HINT = (
    "The deployment tests need HAProxy (Debian's haproxy package): sudo apt-get install -y haproxy. "
    "Set MDM_HAPROXY to another binary."
)


def haproxy_binary() -> str:
    binary = os.environ.get("MDM_HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pool:
    """A stand-in gunicorn pool: answers every method with its name and records what it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[tuple[str, str]] = []
        pool = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                pool.seen.append((self.command, self.path))
                body = pool.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def haproxy(main: Pool, read: Pool | None, read_address: str | None = None) -> Iterator[str]:
    """HAProxy with the shipped file; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "MDM_PROXY_BIND": f"127.0.0.1:{port}",
        "MDM_MAIN_SERVER": main.address,
        "MDM_MAIN_WORKERS": "4",
        "MDM_READ_SERVER": read.address if read else read_address,
        "MDM_READ_WORKERS": "2",
    }
    process = subprocess.Popen(
        [haproxy_binary(), "-f", str(CONFIG), "-db"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def pools() -> Iterator[tuple[Pool, Pool]]:
    main, read = Pool("main"), Pool("read")
    yield main, read
    main.close()
    read.close()


def test_the_shipped_config_is_valid():
    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(CONFIG)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_api_reads_go_to_the_read_lane(pools):
    main, read = pools
    with haproxy(main, read) as url:
        answers = [
            requests.get(f"{url}/api/v1/customers/?page_size=50", timeout=5).text,
            requests.get(f"{url}/api/v1/customers/7/history/", timeout=5).text,
            requests.options(f"{url}/api/v1/suppliers/", timeout=5).text,
            requests.head(f"{url}/api/v1/materials/", timeout=5).status_code,
        ]

    assert answers[:3] == ["read", "read", "read"]
    assert ("HEAD", "/api/v1/materials/") in read.seen
    assert main.seen == []


def test_writes_ingest_posts_and_admin_pages_go_to_the_main_pool(pools):
    main, read = pools
    with haproxy(main, read) as url:
        answers = [
            requests.post(f"{url}/api/v1/ingest/erp/customer/", json=[{"KUNNR": "1"}], timeout=5).text,
            requests.patch(f"{url}/api/v1/customers/7/", json={"name": "x"}, timeout=5).text,
            requests.delete(f"{url}/api/v1/customers/7/", timeout=5).text,
            requests.get(f"{url}/admin/masterdata/customer/", timeout=5).text,
            requests.post(f"{url}/admin/login/", data={"username": "a"}, timeout=5).text,
            requests.get(f"{url}/health/ready/", timeout=5).text,
        ]

    assert answers == ["main"] * 6
    assert read.seen == []


def test_reads_fall_back_to_the_main_pool_when_the_read_lane_is_down(pools):
    main, _ = pools
    nobody_listens = f"127.0.0.1:{free_port()}"
    with haproxy(main, None, read_address=nobody_listens) as url:
        deadline = time.monotonic() + 15  # until the health checks have marked the lane down
        answer = ""
        while time.monotonic() < deadline and answer != "main":
            response = requests.get(f"{url}/api/v1/customers/", timeout=5)
            answer = response.text if response.ok else f"HTTP {response.status_code}"
            time.sleep(0.2)

    assert answer == "main"
    assert ("GET", "/api/v1/customers/") in main.seen
