"""The README's two commands: what `make run` and `make test` do, and the service check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from honcho.environ import parse_procfile

ROOT = Path(__file__).resolve().parents[1]


def dry_run(target: str) -> list[str]:
    """The commands ``make <target>`` would run, with the virtualenv taken as installed."""
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", "--old-file=.venv/.installed", target],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def check_services(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/check_services.py"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
def test_make_run_migrates_seeds_and_starts_web_worker_and_beat():
    commands = dry_run("run")
    migrate = next(i for i, c in enumerate(commands) if "manage.py migrate" in c)
    seed = next(i for i, c in enumerate(commands) if "manage.py seed_demo" in c)
    start = next(i for i, c in enumerate(commands) if "honcho" in c and "scripts/Procfile" in c)
    assert migrate < seed < start
    processes = parse_procfile((ROOT / "scripts" / "Procfile").read_text()).processes
    assert set(processes) == {"web", "worker", "beat"}
    assert "runserver" in processes["web"]
    assert "celery -A mdm_project worker" in processes["worker"]
    assert "celery -A mdm_project beat" in processes["beat"]


@needs_make
def test_make_test_checks_the_services_before_running_pytest():
    commands = dry_run("test")
    check = next(i for i, c in enumerate(commands) if "scripts/check_services.py" in c)
    pytest_run = next(i for i, c in enumerate(commands) if c.startswith(".venv/bin/pytest"))
    assert check < pytest_run


def test_the_service_check_stops_with_instructions_when_nothing_answers():
    result = check_services(DATABASE_URL="postgres://postgres@127.0.0.1:1/test", REDIS_URL="redis://127.0.0.1:1/15")
    assert result.returncode == 2
    assert "PostgreSQL at postgres://postgres@127.0.0.1:1/test does not answer" in result.stderr
    assert "Redis at redis://127.0.0.1:1/15 does not answer" in result.stderr
    assert "docker run" in result.stderr and "pg_ctlcluster" in result.stderr


def test_the_service_check_hides_passwords():
    result = check_services(DATABASE_URL="postgres://me:s3cret@127.0.0.1:1/test", REDIS_URL="redis://127.0.0.1:1/15")
    assert "s3cret" not in result.stderr + result.stdout
    assert "postgres://me:***@127.0.0.1:1/test" in result.stderr


def test_the_service_check_passes_when_both_answer():
    from django.conf import settings

    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    result = check_services(DATABASE_URL=url, REDIS_URL=settings.REDIS_URL)
    assert result.returncode == 0, result.stderr
    assert "answer" in result.stdout
