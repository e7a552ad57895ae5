"""Production settings pass Django's deployment checklist; unsafe ones fail loudly at start."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Variables of the test run that must not leak into the production-like process.
LEAKING = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "MDM_")


def python(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Python in the project's folder with the production-like environment ``env`` and nothing of the test run."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(LEAKING)}
    clean |= {"DJANGO_SETTINGS_MODULE": "mdm_project.settings", "MDM_VAR_DIR": str(tmp_path), **env}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return python("manage.py", *args, tmp_path=tmp_path, **env)


def production_env() -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "DJANGO_ALLOWED_HOSTS": "mdm.example.com",
        "DATABASE_URL": "postgres://mdm@db.example.com:5432/mdm",
        "REDIS_URL": "redis://cache.example.com:6379/0",
    }


def test_the_deployment_checklist_passes_without_a_warning_in_production(tmp_path):
    result = manage("check", "--deploy", tmp_path=tmp_path, **production_env())
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "System check identified no issues" in output
    assert "WARNING" not in output


def test_debug_off_without_a_secret_key_refuses_to_start_and_says_why(tmp_path):
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


@pytest.mark.parametrize("debug", ["1", ""])
def test_the_quick_start_runs_without_any_environment(tmp_path, debug):
    result = manage("check", tmp_path=tmp_path, DJANGO_DEBUG=debug)
    assert result.returncode == 0, result.stderr


def test_the_wsgi_application_leaves_the_loaded_code_to_the_garbage_collectors_frozen_generation(tmp_path):
    """What the server loaded lives as long as the process: full collections should not scan it per request."""
    probe = (
        "import gc, json; import mdm_project.wsgi as w; "
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'thresholds': gc.get_threshold(), "
        "'app': callable(w.application)}))"
    )
    done = python("-c", probe, tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout.strip().splitlines()[-1])
    assert values["app"] is True
    assert values["frozen"] > 10_000  # Django and the apps' objects
    assert values["thresholds"] == [10_000, 20, 50]



def setting(tmp_path: Path, expression: str, **env: str):
    """The value of ``expression`` (over ``settings``) as the production-like process sees it, through JSON."""
    code = f"import json; from django.conf import settings; print(json.dumps({expression}))"
    shown = manage("shell", "-c", code, tmp_path=tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout.strip().splitlines()[-1])


def test_a_postgresql_connection_gives_up_after_a_few_seconds_unless_the_url_says_otherwise(tmp_path):
    timeout = "settings.DATABASES['default']['OPTIONS']['connect_timeout']"
    env = production_env()

    assert setting(tmp_path, timeout, **env) == 5
    assert setting(tmp_path, timeout, **env, DATABASE_CONNECT_TIMEOUT="2") == 2
    assert int(setting(tmp_path, timeout, **{**env, "DATABASE_URL": env["DATABASE_URL"] + "?connect_timeout=9"})) == 9


def test_a_clients_x_forwarded_proto_is_not_trusted_unless_a_tls_proxy_is_declared(tmp_path):
    header = "getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)"

    behind_a_proxy = setting(tmp_path, header, **production_env(), DJANGO_BEHIND_TLS_PROXY="1")

    assert setting(tmp_path, header, **production_env()) is None
    assert behind_a_proxy == ["HTTP_X_FORWARDED_PROTO", "https"]
