"""Check that the PostgreSQL and Redis the test suite needs answer; say how to start them if not.

The suite runs against real services and never skips silently: ``make test`` stops here with
exit status 2 and instructions when either is missing. URLs come from DATABASE_URL and
REDIS_URL, with the same defaults as tests/settings.py.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import psycopg
import redis

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
TIMEOUT_SECONDS = 3

POSTGRES_HELP = """\
  Start PostgreSQL, for example:
    Debian/Ubuntu:  sudo pg_ctlcluster $(ls /etc/postgresql) main start   (or: sudo service postgresql start)
    macOS:          brew services start postgresql@16
    Docker:         docker run -d --name mdm-postgres -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16
  The test user must be allowed to create databases (pytest creates test_<name>).
  Another server: export DATABASE_URL=postgres://user:password@host:5432/test"""

REDIS_HELP = """\
  Start Redis, for example:
    Debian/Ubuntu:  sudo service redis-server start   (or: redis-server --daemonize yes)
    macOS:          brew services start redis
    Docker:         docker run -d --name mdm-redis -p 6379:6379 redis:7
  Another server: export REDIS_URL=redis://host:6379/15"""


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def check_postgres(url: str) -> str | None:
    """None when the server answers (the test database itself may not exist yet)."""
    try:
        # The maintenance database: pytest-django connects there to create test_<name>.
        with psycopg.connect(url, dbname="postgres", connect_timeout=TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def check_redis(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return None


def main() -> int:
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    problems = []
    error = check_postgres(database_url)
    if error:
        problems.append(f"PostgreSQL at {redacted(database_url)} does not answer: {error}\n{POSTGRES_HELP}")
    error = check_redis(redis_url)
    if error:
        problems.append(f"Redis at {redacted(redis_url)} does not answer: {error}\n{REDIS_HELP}")
    if problems:
        print("The test suite needs real PostgreSQL and Redis; not running the tests.\n", file=sys.stderr)
        print("\n\n".join(problems), file=sys.stderr)
        return 2
    print(f"PostgreSQL {redacted(database_url)} and Redis {redacted(redis_url)} answer.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
