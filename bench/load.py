"""Load benchmark (not a test): the production-like stack under many concurrent users, step by step.

Run as a script, it orchestrates everything on the loopback interface: creates the bench database
anew (``--keep-database``: as earlier runs left it), migrates, collects static files into a temporary
STATIC_ROOT, seeds the demo group (``seed_demo --allow-production``), issues tokens, starts the stack
(``load_stack``; DEBUG off, a Celery worker on Redis db 5 by default) — by default the README's read-lane
layout: HAProxy with the shipped ``deploy/haproxy.cfg`` in front, the API reads on a small gunicorn started
with ``MDM_SERVER_LANE=read``, everything else on the main gunicorn, which runs with the worker at niceness
10 (``--layout single``: one gunicorn for everything, nobody niced, no proxy) — then runs locust headless
once per concurrency step, and finally holds the highest concurrency that kept the p99 under 1 s for
five minutes, with a mix of

* 70 % API reads by a superuser token: customer list (``page_size=50``), detail and history;
* 20 % ingest posts as the demo ERP's integration account, one new customer code per post with a
  believable company name (3 % near-duplicates of an earlier one) and a unique ``Idempotency-Key``;
  every code sent and every answer is recorded;
* 10 % admin changelist pages with a session logged in through ``/admin/login/`` (CSRF included).

The users are locust's ``FastHttpUser`` (geventhttpclient): the load generator shares the cores with
the server and should take as little of them as it can. Each step measures for its full duration
once every user has logged in; the steps go up until one has its p99 at 1 s or more (the higher ones
are skipped). Then the hold: the highest step that kept the p99 under 1 s with 0 errors and 0 lost
records runs again for ``--hold-duration`` (300 s); should the hold's p99 reach 1 s, the step below is
held too. Afterwards it counts the accepted codes in the database (0 lost is the target), prints one
row per step and hold (requests/s, p50/p95/p99 of reads, ingest and admin, error rate), the cores used
in the window by each part of the stack, locust and everything else on the machine, and the verdict:
the highest concurrency held for the full time with p99 < 1 s, and its read p95 (target < 100 ms).
Then the baseline, in the same run: the stack restarts as one gunicorn for everything (``--layout single``)
and one step runs at the held concurrency; the report gives its read p95 beside ours as a ratio
(``--no-baseline`` skips it). It stops every process it started.

PostgreSQL's tables are kept as production keeps them: where the server runs without autovacuum
(``SHOW autovacuum`` off, as on some development machines), a thread of the orchestrator vacuums and
analyzes the tables that changed enough by autovacuum's own rules and settings (``load_statistics.StatisticsKeeper``);
otherwise the planner would read the growing tables as the empty ones the migrations left, and the GIN
indexes' pending entries would pile up until an insert has to merge them.

Plain HTTP on 127.0.0.1 (no TLS at the proxy): ``DJANGO_SECURE_SSL_REDIRECT=0`` and the cookies'
Secure flags off, otherwise the production settings. The load generator shares the machine.

Usage (the database name must contain "bench")::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_load_bench .venv/bin/python bench/load.py \
        [--users 75,90,105,120,140] [--step-duration 60] [--hold-duration 300] [--quick] [--workers 4] \
        [--worker-class sync] [--threads 1] [--worker-concurrency 4] [--keep-database] \
        [--layout lanes|single] [--read-workers 2] [--nice 10]

``--quick`` runs every step for 30 s and the hold for 60 s. The same file is the locustfile the script hands to locust.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READ, INGEST, ADMIN, LOGIN = "read", "ingest", "admin", "login"
ACCEPTED_OUTCOMES = {"created", "updated", "unchanged", "conflict", "duplicate_suspect"}
ADMIN_PAGES = ["/admin/masterdata/customer/", "/admin/masterdata/supplier/", "/admin/masterdata/material/"]
INGEST_URL = "/api/v1/ingest/erp/customer/"


# --- the locust side (imported by locust; the orchestrator never imports locust and its gevent patching) ---
if __name__ != "__main__":
    import gevent
    import ingest as ingest_bench  # locust puts the locustfile's folder (bench/) on sys.path
    from locust import between, events, task
    from locust.contrib.fasthttp import FastHttpSession, FastHttpUser

    _samples: dict[str, list[float]] = {READ: [], INGEST: [], ADMIN: [], LOGIN: []}
    _errors: dict[str, int] = {READ: 0, INGEST: 0, ADMIN: 0, LOGIN: 0}
    _counts: dict[str, int] = {READ: 0, INGEST: 0, ADMIN: 0, LOGIN: 0}  # ramp-up included
    _sent: list[str] = []
    _accepted: list[str] = []
    _answers: dict[str, int] = {}
    _counter = iter(range(10**9))
    _names: list[str] = []
    _name_rng = random.Random(os.environ.get("LOAD_CODE_PREFIX"))
    _surnames: list[str] = []

    def company_name() -> str:
        """A believable company name, Latin or Chinese (the ingest benchmark's vocabulary); 3 % are
        near-duplicates of an earlier one (another legal form), as sources do send."""
        if not _surnames:
            from faker import Faker

            faker = Faker("en_US")
            faker.seed_instance(1)
            _surnames.extend(sorted({faker.last_name() for _ in range(5000)}))
        if _names and _name_rng.random() < 0.03:
            return _name_rng.choice(_names).replace("Ltd.", "Limited").replace("有限公司", "公司")
        name = ingest_bench.customer_values(0, _name_rng, _surnames)["name"]
        _names.append(name)
        return name

    # Each user logs in to the admin once when it starts (a deliberately slow password hash): those logins,
    # and everything during the ramp-up, are counted for errors but kept out of the measured window.
    _window: dict[str, float] = {}
    _ready_users: list[int] = [0]

    @events.request.add_listener
    def _record(
        name: str, response_time: float, exception: BaseException | None, start_time: float | None = None, **_: Any
    ) -> None:
        """Every request's time, by kind (the name's prefix), for percentiles over reads as a whole.

        A request counts in the window when it was *sent* in it (``start_time``, seconds since the epoch),
        whenever its answer comes: one sent during the ramp-up, while the last users' logins hold the
        cores, and answered just after the window opened measures the ramp-up, not the step.
        """
        kind = name.split(":", 1)[0]
        _counts[kind] += 1
        if exception is not None:
            _errors[kind] += 1
        if kind == LOGIN:
            _samples[kind].append(response_time)
        elif "start" in _window:
            sent = time.time() - response_time / 1000 if start_time is None else start_time
            if _window["sent_from"] <= sent < _window.get("sent_until", math.inf):
                _samples[kind].append(response_time)

    @events.test_stop.add_listener
    def _dump(**_: Any) -> None:
        """Hand the raw figures to the orchestrator (one locust process per step)."""
        window = _window.get("end", time.monotonic()) - _window["start"] if "start" in _window else 0.0
        result = {
            "samples": _samples,
            "errors": _errors,
            "counts": _counts,
            "sent": _sent,
            "accepted": _accepted,
            "answers": _answers,
            "window": window,
        }
        Path(os.environ["LOAD_RESULT_FILE"]).write_text(json.dumps(result))

    def _end_window(runner: Any) -> None:
        """Close the measured window, then stay alive a moment: the answers to requests sent in the window
        still count, and the orchestrator's closing CPU snapshot must still find this process (one that has
        ended counts as "other")."""
        _window["end"], _window["sent_until"] = time.monotonic(), time.time()
        Path(os.environ["LOAD_RESULT_FILE"] + ".end").touch()
        gevent.sleep(5.0)
        runner.quit()

    class HubUser(FastHttpUser):
        """A mix of API readers, an ERP posting customers and stewards paging the admin.

        geventhttpclient (FastHttpUser) rather than requests: the load generator shares the two cores
        with the server, and requests costs several times more CPU per call.
        """

        wait_time = between(0.5, 1.5)
        network_timeout = 60.0
        connection_timeout = 30.0
        max_retries = 0  # an ingest post is never sent twice behind the script's back

        def on_start(self) -> None:
            self.read_headers = {"Authorization": f"Token {os.environ['LOAD_READ_TOKEN']}"}
            self.ingest_headers = {"Authorization": f"Token {os.environ['LOAD_INGEST_TOKEN']}"}
            self.customer_ids: list[int] = []
            self.admin = self._admin_session()
            _ready_users[0] += 1
            if _ready_users[0] == int(os.environ["LOAD_USERS"]):
                _window["start"], _window["sent_from"] = time.monotonic(), time.time()
                Path(os.environ["LOAD_RESULT_FILE"] + ".window").touch()  # the orchestrator's CPU accounting
                # The measured window lasts its full length however long the logins took (-t is only a backstop).
                gevent.spawn_later(float(os.environ["LOAD_WINDOW_SECONDS"]), _end_window, self.environment.runner)

        def _admin_session(self) -> FastHttpSession:
            """A second session of this user (own cookie jar), logged in to the admin like a browser (CSRF cookie)."""
            session = FastHttpSession(
                base_url=self.host,
                request_event=self.environment.events.request,
                user=self,
                network_timeout=self.network_timeout,
                connection_timeout=self.connection_timeout,
                max_retries=0,
            )
            session.get("/admin/login/", name="login: form")
            csrf = next((cookie.value for cookie in session.cookiejar if cookie.name == "csrftoken"), "")
            with session.post(
                "/admin/login/?next=/admin/",
                data={"username": "admin", "password": os.environ["LOAD_ADMIN_PASSWORD"],
                      "csrfmiddlewaretoken": csrf, "next": "/admin/"},
                headers={"Referer": f"{self.host}/admin/login/"},
                name="login: post",
                allow_redirects=False,  # the redirect to /admin/ is not part of the login
                catch_response=True,
            ) as response:  # fmt: skip
                if response.status_code != 302 or not any(c.name == "sessionid" for c in session.cookiejar):
                    response.failure(f"admin login refused ({response.status_code})")
            return session

        @task(40)
        def customer_list(self) -> None:
            with self.client.get(
                "/api/v1/customers/?page_size=50", headers=self.read_headers, name="read: customer list",
                catch_response=True,
            ) as response:  # fmt: skip
                if response.status_code == 200:
                    self.customer_ids = [row["id"] for row in response.json()["results"]]

        @task(20)
        def customer_detail(self) -> None:
            if self.customer_ids:
                pk = random.choice(self.customer_ids)
                self.client.get(f"/api/v1/customers/{pk}/", headers=self.read_headers, name="read: detail")

        @task(10)
        def customer_history(self) -> None:
            if self.customer_ids:
                pk = random.choice(self.customer_ids)
                self.client.get(f"/api/v1/customers/{pk}/history/", headers=self.read_headers, name="read: history")

        @task(20)
        def ingest_customer(self) -> None:
            code = f"{os.environ['LOAD_CODE_PREFIX']}{next(_counter):07d}"
            record = {"KUNNR": code, "NAME1": company_name(), "BUKRS": "1000", "VKBUR": ""}
            _sent.append(code)
            headers = {**self.ingest_headers, "Idempotency-Key": str(uuid.uuid4())}
            with self.client.post(
                INGEST_URL, json=[record], headers=headers, name="ingest: post", catch_response=True
            ) as response:
                outcome = response.json()["results"][0]["outcome"] if response.status_code == 200 else None
                answer = outcome or f"HTTP {response.status_code}"
                _answers[answer] = _answers.get(answer, 0) + 1
                if outcome in ACCEPTED_OUTCOMES:
                    _accepted.append(code)
                else:
                    response.failure(f"not accepted: {answer}")

        @task(10)
        def admin_changelist(self) -> None:
            with self.admin.get(
                random.choice(ADMIN_PAGES), name="admin: changelist", allow_redirects=False, catch_response=True
            ) as response:
                if response.status_code != 200:  # a lost session answers 302 to the login page
                    response.failure(f"not the changelist: HTTP {response.status_code}")


# --- the orchestrator (run as a script) -------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile in ms (0 when nothing was measured)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def bench_environment(database_url: str, redis_url: str, static_root: str, var_dir: str) -> dict[str, str]:
    """Production settings (DEBUG off, random secret key), plain HTTP on loopback, throttling out of the way."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mdm_project.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SESSION_COOKIE_SECURE": "0",  # plain HTTP: a Secure cookie would never come back
        "DJANGO_CSRF_COOKIE_SECURE": "0",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DJANGO_STATIC_ROOT": static_root,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "MDM_API_RATE_USER": "100000000/hour",
        "MDM_API_RATE_ANON": "100000000/hour",
        "MDM_VAR_DIR": var_dir,
        "MDM_LOG_LEVEL": "WARNING",
        "MDM_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        # Keys at rest stay the same between runs on one bench database: what an earlier run encrypted stays readable.
        "MDM_ENCRYPTION_KEYS": base64.urlsafe_b64encode(
            hashlib.sha256(f"load-bench:{database_url}".encode()).digest()
        ).decode(),
        "MDM_BLIND_INDEX_KEY": hashlib.sha256(f"load-bench-index:{database_url}".encode()).hexdigest(),
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict[str, str], *args: str) -> str:
    """One management command; its stdout (stderr shown only when it fails)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Schema, static files, demo data, the admin's password and the ERP account's ingest right; two tokens."""
    print("migrate, collectstatic, seed_demo …", flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "seed_demo", "--allow-production")
    manage(
        env,
        "shell",
        "-c",
        "import os; from django.contrib.auth import get_user_model; from django.contrib.auth.models import Permission;"
        "User = get_user_model(); admin = User.objects.get(username='admin');"
        "admin.set_password(os.environ['MDM_ADMIN_PASSWORD']); admin.save();"
        "User.objects.get(username='erp-integration').user_permissions.add("
        "Permission.objects.get(content_type__app_label='connectors', codename='ingest_mapping'))",
    )
    read_token = manage(env, "create_api_token", "admin", "--name", "load bench reads", "--expires-in", "1").strip()
    ingest_token = manage(
        env, "create_api_token", "erp-integration", "--name", "load bench ingest", "--expires-in", "1"
    ).strip()
    return read_token, ingest_token


def run_step(
    env: dict[str, str], url: str, users: int, seconds: int, work: Path, tokens: tuple[str, str], groups: dict,
    label: str = "step",
) -> dict:
    """One locust run at ``users`` concurrent users; the raw figures its locustfile dumps at the end, and the
    cores each part of the stack used during the measured window (``cpu``) with the load average before it."""
    import load_cpu  # bench/ is on sys.path when run as a script
    import load_stack

    result_file = work / f"{label}-{users}.json"
    window_file = Path(f"{result_file}.window")
    end_file = Path(f"{result_file}.end")
    ramp = 60 + 3 * users  # a backstop: every user logs in once (about 1 s of CPU each) before the window
    step_env = {
        **env,
        "LOAD_RESULT_FILE": str(result_file),
        "LOAD_READ_TOKEN": tokens[0],
        "LOAD_INGEST_TOKEN": tokens[1],
        "LOAD_ADMIN_PASSWORD": env["MDM_ADMIN_PASSWORD"],
        "LOAD_USERS": str(users),
        "LOAD_WINDOW_SECONDS": str(seconds),
        "LOAD_CODE_PREFIX": f"LD{secrets.token_hex(3).upper()}U{users}-",
    }
    command = [str(Path(sys.executable).parent / "locust"), "-f", __file__, "--headless", "--host", url,
               "-u", str(users), "-r", str(max(1, users // 5)), "-t", f"{seconds + ramp}s",
               "--stop-timeout", "30", "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    database = env["DATABASE_URL"].rsplit("/", 1)[-1]
    load_before = os.getloadavg()
    before = after = None
    result_file.unlink(missing_ok=True)
    window_file.unlink(missing_ok=True)
    end_file.unlink(missing_ok=True)
    with open(work / f"locust-{label}-{users}.log", "w") as log:
        locust = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=step_env, stdout=log, stderr=log, start_new_session=True
        )
        parts = {**groups, "locust": locust.pid}
        deadline = time.monotonic() + seconds + ramp + 120
        while locust.poll() is None and time.monotonic() < deadline:
            if before is None and window_file.exists():
                before = load_cpu.snapshot(parts, database, time.monotonic())
            if after is None and (end_file.exists() or result_file.exists()):  # the window's end
                after = load_cpu.snapshot(parts, database, time.monotonic())
            time.sleep(0.2)
        if after is None:  # locust wrote its figures and ended between two looks
            after = load_cpu.snapshot(parts, database, time.monotonic())
        if locust.poll() is None:
            load_stack.stop([locust])
    result = json.loads(result_file.read_text())
    result["cpu"] = load_cpu.cores_used(before, after) if before and after else {}
    result["load_before"] = load_before
    return result


def count_in_database(database_url: str, codes: list[str]) -> int:
    """How many of ``codes`` are customers' codes now (read straight from PostgreSQL)."""
    import psycopg
    from load_statistics import libpq_url

    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(DISTINCT code) FROM masterdata_customer WHERE code = ANY(%s)", [codes])
        return row.fetchone()[0]


def passed(row: dict[str, Any]) -> bool:
    """The load target's conditions but the read p95: p99 of the mix under 1 s, 0 errors, 0 lost."""
    return row["p99_all"] < 1000 and row["errors"] == 0 and row["lost"] == 0


def summarise(users: int, result: dict, found: int) -> dict[str, Any]:
    samples, errors = result["samples"], result["errors"]
    steady = (READ, INGEST, ADMIN)
    total = sum(len(samples[kind]) for kind in steady)
    every = [value for kind in steady for value in samples[kind]]
    row: dict[str, Any] = {"users": users, "requests": total, "rps": total / result["window"] if total else 0.0}
    for kind in (*steady, LOGIN):
        row[kind] = [percentile(samples[kind], share) for share in (0.5, 0.95, 0.99)]
    row["p99_all"] = percentile(every, 0.99)
    row["errors"] = sum(errors.values())
    row["all_requests"] = sum(result["counts"].values())
    row["error_rate"] = row["errors"] / row["all_requests"] if row["all_requests"] else 1.0
    row["window"] = result["window"]
    row["sent"], row["accepted"] = len(result["sent"]), len(result["accepted"])
    row["lost"] = row["accepted"] - found
    row["unanswered"] = row["sent"] - sum(result["answers"].values())  # in flight when locust stopped
    row["answers"] = result["answers"]
    row["cpu"], row["load_before"] = result["cpu"], result["load_before"]
    return row


def print_report(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| users | req/s | read p50/p95/p99 ms | ingest p50/p95/p99 ms | admin p50/p95/p99 ms | errors "
        "| ingest sent/accepted/in DB/lost |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        cells = ["/".join(f"{value:.0f}" for value in row[kind]) for kind in (READ, INGEST, ADMIN)]
        print(f"| {row['label']} | {row['rps']:.1f} | {' | '.join(cells)} | {row['errors']} of {row['all_requests']} "
              f"({row['error_rate']:.2%}) | {row['sent']}/{row['accepted']}/{row['accepted'] - row['lost']}/"
              f"{row['lost']} |")  # fmt: skip
    for row in rows:
        login = "/".join(f"{value:.0f}" for value in row[LOGIN])
        print(
            f"  {row['label']}: measured {row['window']:.0f} s after ramp-up; ingest answers {row['answers']}, "
            f"{row['unanswered']} in flight at the stop; "
            f"p99 of the mix {row['p99_all']:.0f} ms; admin login p50/p95/p99 {login} ms"
        )
        if row["cpu"]:
            cpu = row["cpu"]
            names = ("gunicorn", "read lane", "haproxy", "postgres", "worker", "locust", "other")
            parts = ", ".join(f"{name} {cpu[name]:.2f}" for name in names if name in cpu)
            web = cpu.get("gunicorn", 0.0) + cpu.get("read lane", 0.0)
            per_request = web * 1000 / row["rps"] if row["rps"] else 0.0
            print(f"    cores used in the window: {parts} (machine {cpu['machine']:.2f} of {os.cpu_count()}); "
                  f"gunicorn {per_request:.1f} ms CPU per request; load average before the step "
                  f"{'/'.join(f'{v:.1f}' for v in row['load_before'])}")  # fmt: skip
    baselines = [row for row in rows if row["baseline"]]
    holds = [row for row in rows if row["hold"]]
    fine = [row for row in (holds or rows) if passed(row) and not row["baseline"]]
    held = f"held {holds[0]['window']:.0f} s" if holds else "in a step"
    if fine:
        best = max(fine, key=lambda row: row["users"])
        verdict = "met" if best["read"][1] < 100 else "NOT met"
        print(f"Highest concurrency with p99 < 1 s, 0 errors, 0 lost ({held}): {best['users']} users — p99 of the "
              f"mix {best['p99_all']:.0f} ms, read p95 {best['read'][1]:.0f} ms (target < 100 ms: {verdict}), "
              f"{best['rps']:.1f} req/s.")  # fmt: skip
    else:
        print(f"No concurrency kept p99 < 1 s with 0 errors and 0 lost records ({held}).")
    if fine and baselines:
        ours, base = max(fine, key=lambda row: row["users"]), baselines[0]
        print(f"Baseline in the same run, {base['users']} users with one gunicorn for everything (arrival order, "
              f"{base['window']:.0f} s): read p95 {base['read'][1]:.0f} ms, p99 of the mix {base['p99_all']:.0f} ms; "
              f"read p95 baseline / ours = {base['read'][1] / max(ours['read'][1], 1):.1f}×.")  # fmt: skip
    lost = sum(row["lost"] for row in rows)
    print(f"Records: {sum(r['accepted'] for r in rows)} accepted, {lost} lost.")


def main() -> int:
    import load_stack  # bench/ is on sys.path when run as a script
    from api_list import ensure_database  # the shared bench set-up: refuses a name without "bench"

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", default="75,90,105,120,140", help="Concurrency steps, comma-separated, rising.")
    parser.add_argument("--step-duration", type=int, default=60, help="Seconds per step.")
    parser.add_argument(
        "--hold-duration", type=int, default=300,
        help="Seconds to hold the highest step that kept p99 < 1 s (0: no hold).",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="30 s per step, 60 s of hold.")
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false",
        help="Skip the baseline: after the hold, one step at the held concurrency with one gunicorn for everything.",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes.")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread).")
    parser.add_argument("--threads", type=int, default=1, help="Threads per gunicorn worker (gthread).")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="Threads of the Celery worker.")
    parser.add_argument(
        "--layout", choices=("lanes", "single"), default=None,
        help="lanes: HAProxy (deploy/haproxy.cfg) in front of a read lane and the main gunicorn (the default when "
        "HAProxy is installed); single: one gunicorn for everything, clients connecting to it directly.",
    )
    parser.add_argument("--read-workers", type=int, default=2, help="Workers of the read lane (--layout lanes).")
    parser.add_argument(
        "--nice", type=int, default=10, help="Niceness of the main gunicorn and the Celery worker (--layout lanes)."
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument(
        "--keep-database", action="store_true", help="Reuse the bench database as earlier runs left it (default: anew)."
    )
    args = parser.parse_args()
    if args.layout is None:
        args.layout = "lanes" if load_stack.haproxy_available() else "single"
        if args.layout == "single":
            print("HAProxy is not installed: one gunicorn for everything (--layout single); the README's read-lane "
                  "layout needs it (Debian: apt-get install -y haproxy)", flush=True)  # fmt: skip
    elif args.layout == "lanes" and not load_stack.haproxy_available():
        sys.exit("--layout lanes needs HAProxy on PATH (Debian: apt-get install -y haproxy)")
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/mdm_load_bench")
    ensure_database(database_url, fresh=not args.keep_database)
    steps = sorted(int(value) for value in args.users.split(","))
    step_seconds, hold_seconds = (30, min(60, args.hold_duration)) if args.quick else (args.step_duration,
                                                                                     args.hold_duration)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="mdm-load-"))
    env = bench_environment(database_url, args.redis_url, str(work / "static"), str(work / "var"))
    tokens = prepare(env)
    from load_statistics import StatisticsKeeper  # bench/ is on sys.path when run as a script

    keeper = StatisticsKeeper(database_url) if StatisticsKeeper.needed(database_url) else None
    if keeper is not None:
        print("autovacuum is off on this PostgreSQL server: the bench vacuums and analyzes changed tables as "
              "autovacuum would (its naptime, thresholds and scale factors)", flush=True)  # fmt: skip
        keeper.start()
    stack = load_stack.start(env, args, work)
    print(f"{stack.describe(args)}; steps {steps} of {step_seconds} s, then a hold of {hold_seconds} s; logs in {work}",
          flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []

    def measure(users: int, seconds: int, hold: bool, baseline: bool = False) -> dict[str, Any]:
        label = "baseline" if baseline else "hold" if hold else "step"
        result = run_step(env, stack.url, users, seconds, work, tokens, stack.groups(), label=label)
        row = summarise(users, result, count_in_database(database_url, result["accepted"]))
        row["hold"], row["baseline"] = hold, baseline
        row["label"] = {"hold": f"{users} (hold {seconds} s)", "baseline": f"{users} (baseline: one pool)"}.get(
            label, str(users)
        )
        rows.append(row)
        print(f"  {label} {users} users done: {row['requests']} requests, p99 of the mix {row['p99_all']:.0f} ms",
              flush=True)  # fmt: skip
        return row

    try:
        for users in steps:
            if not passed(measure(users, step_seconds, hold=False)):
                break  # the higher steps would only queue longer
        candidates = sorted((row["users"] for row in rows if passed(row)), reverse=True)[:2] if hold_seconds else []
        for users in candidates:  # the highest; the one below if the highest does not hold
            if passed(measure(users, hold_seconds, hold=True)):
                break
        held = [row for row in rows if row["hold"] and passed(row)]
        if args.baseline and args.layout == "lanes" and held:  # the same concurrency in arrival order, same run
            load_stack.stop(stack)
            stack = load_stack.start(env, argparse.Namespace(**{**vars(args), "layout": "single"}), work)
            print(f"baseline: {stack.describe(argparse.Namespace(**{**vars(args), 'layout': 'single'}))}", flush=True)
            measure(held[-1]["users"], step_seconds, hold=False, baseline=True)
    finally:
        load_stack.stop(stack)
        if keeper is not None:
            keeper.stopping.set()
            print(f"autovacuum's work done by the bench: {keeper.analyzed} analyses, {keeper.vacuumed} vacuums")
    print_report(rows)
    port = int(stack.url.rsplit(":", 1)[1])
    print(f"Processes stopped; port {port} {'still OPEN' if load_stack.port_open(port) else 'closed'}.")
    shutil.rmtree(work / "static", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
