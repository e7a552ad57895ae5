"""Settings, all from environment variables.

The defaults give the quick start (SQLite, kombu's filesystem broker, DEBUG on). Production sets
``DJANGO_DEBUG=0``, ``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS``, ``DATABASE_URL`` and
``CELERY_BROKER_URL``/``REDIS_URL``; the README lists every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

from masterdata.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MDM_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


# --- Core -------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdefghijklmnop"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "guardian",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "csp",
    "masterdata",
    "masterdata.observability",
    "connectors",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "masterdata.observability.middleware.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "masterdata.api.middleware.ReadLaneMiddleware",  # only on a server started as the read lane
    "masterdata.api.middleware.ApiRequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "masterdata.middleware.AuditContextMiddleware",  # audit events name the request's user and address
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into a 429 page
    "connectors.middleware.OpenIncidentsMiddleware",  # open incidents on the admin's front page, for staff
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "mdm_project.urls"
WSGI_APPLICATION = "mdm_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores ------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'mdm.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # An unreachable server fails a request (and /health/ready/) in seconds instead of at the OS's TCP timeout;
    # ``?connect_timeout=`` in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "mdm_project.cache.RedisCache",  # Django's, reusing its Redis clients
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("MDM_CACHE_PREFIX", "mdm"),
        }
    }
else:
    # Files, not process memory: the quick start's web server, worker and beat must share it
    # (the worker's heartbeat is read by the web process).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": VAR_DIR / "cache"}
    }

# --- Auth -------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before any password check
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
GUARDIAN_RAISE_403 = True
ANONYMOUS_USER_NAME = None  # no anonymous object permissions: every request authenticates
# Login lockout (django-axes): after MDM_LOGIN_FAILURE_LIMIT failures for one user name from one
# address, that pair is refused (429) for MDM_LOGIN_COOLOFF_MINUTES; a success resets the count.
# The address is masterdata.services.audit.client_ip's: REMOTE_ADDR, or behind MDM_TRUSTED_PROXIES
# proxies the address the outermost of them saw (from X-Forwarded-For, counted from the right).
MDM_TRUSTED_PROXIES = env_int("MDM_TRUSTED_PROXIES", 0)
AXES_CLIENT_IP_CALLABLE = "masterdata.services.audit.client_ip"
AXES_FAILURE_LIMIT = env_int("MDM_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("MDM_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ALLOWED_CORS_ORIGINS = ""  # its lockout answer to XHR logins otherwise allows every origin

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Request limits ---------------------------------------------------------------------------
# Bodies above this size are refused with a 400 before any parsing (see ApiRequestGuardMiddleware).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MDM_MAX_BODY_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- REST API ---------------------------------------------------------------------------------
API_PAGE_SIZE = env_int("MDM_API_PAGE_SIZE", 50)
API_MAX_PAGE_SIZE = env_int("MDM_API_MAX_PAGE_SIZE", 500)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "masterdata.api.authentication.BearerOrTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "masterdata.api.pagination.GoldenCursorPagination",
    "PAGE_SIZE": API_PAGE_SIZE,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "masterdata.api.exceptions.json_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["masterdata.api.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Per token (a session: per user) and per address for failed or missing authentication; 429 with Retry-After.
    # DRF's throttles with constant-time counting (masterdata/api/throttling.py says why).
    "DEFAULT_THROTTLE_CLASSES": [
        "masterdata.api.throttling.AnonRateThrottle",
        "masterdata.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("MDM_API_RATE_ANON", "60/minute"),
        "user": os.environ.get("MDM_API_RATE_USER", "10000/hour"),
    },
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MDM Hub API",
    "DESCRIPTION": (
        "Golden records of the group's master data (customers, suppliers, materials, "
        "organisation units, employees) with full history. Authenticate with "
        "`Authorization: Token <key>` (or `Bearer <key>`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status" field with different choices; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "GoldenStatusEnum": "masterdata.models.base.GoldenStatus",
        "LinkStatusEnum": "masterdata.models.sources.LinkStatus",
        # The status an API client may set (merging is the merge service's business).
        "SettableStatusEnum": [("active", "Active"), ("inactive", "Inactive")],
    },
    # Every operation also documents its error answers (400, 401, 403, 404, 412, 415, 429).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "masterdata.api.schema.document_errors",
    ],
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        # Without it kombu writes its exchange table to ./control in the working directory.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Synced into django_celery_beat's tables when beat starts; further schedules are edited in the admin.
MDM_HEARTBEAT_SECONDS = env_int("MDM_HEARTBEAT_SECONDS", 30)
# Readiness (/health/ready/): the oldest worker heartbeat and beat run that still count as alive.
MDM_WORKER_HEARTBEAT_MAX_AGE = env_int("MDM_WORKER_HEARTBEAT_MAX_AGE", 4 * MDM_HEARTBEAT_SECONDS)
MDM_BEAT_MAX_AGE = env_int("MDM_BEAT_MAX_AGE", 4 * MDM_HEARTBEAT_SECONDS)
CELERY_BEAT_SYNC_EVERY = 1  # beat stores last_run_at after every task it sends (readiness reads it)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below (JSON, correlation id)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "masterdata.tasks.heartbeat",
        "schedule": float(MDM_HEARTBEAT_SECONDS),
        "options": {"expire_seconds": MDM_HEARTBEAT_SECONDS},  # a missed beat is not worth running late
    },
    "purge-idempotency-keys": {"task": "connectors.tasks.purge_idempotency_keys", "schedule": 24 * 3600.0},
    # Dispatches change events the after-commit path missed and hands due pushes and webhooks to workers.
    "sweep-outbox": {
        "task": "connectors.tasks.sweep_outbox",
        "schedule": float(env_int("MDM_PUSH_SWEEP_SECONDS", 15)),
        "options": {"expire_seconds": env_int("MDM_PUSH_SWEEP_SECONDS", 15)},
    },
    # Deletes finished push deliveries and webhook batches past MDM_DELIVERY_RETENTION_DAYS (retention.py).
    "purge-deliveries": {"task": "connectors.tasks.purge_deliveries", "schedule": 24 * 3600.0},
    # Opens, closes and e-mails incidents (connectors/services/alerts.py); sync runs also check as they end.
    "check-alerts": {
        "task": "connectors.tasks.check_alerts",
        "schedule": float(env_int("MDM_ALERT_CHECK_SECONDS", 300)),
    },
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Security (production: DJANGO_DEBUG=0) ----------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and drops the client's). Off by default: a server
    # reached directly would take a client's word that its plain-HTTP request came over HTTPS.
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Health probes come over plain HTTP from the orchestrator.
    SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
# Content Security Policy (django-csp) on every page: scripts only from the hub itself, plus the
# API docs' init script that carries the request's nonce (templates/drf_spectacular/swagger_ui.html);
# inline styles for the admin and Swagger UI.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# CORS: no cross-origin access is granted (no CORS middleware is installed).

# --- Logging ----------------------------------------------------------------------------------
# One line per record, with the correlation id; JSON (one object per line) unless DEBUG.
LOGGING = logging_config(
    log_format=os.environ.get("MDM_LOG_FORMAT") or ("plain" if DEBUG else "json"),
    level=os.environ.get("MDM_LOG_LEVEL", "INFO"),
)

# --- Operations -------------------------------------------------------------------------------
# /metrics answers a bearer of MDM_METRICS_TOKEN or a client in MDM_METRICS_ALLOWED_NETWORKS (CIDR).
MDM_METRICS_TOKEN = os.environ.get("MDM_METRICS_TOKEN", "")
MDM_METRICS_ALLOWED_NETWORKS = env_list("MDM_METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
# A Celery worker serves its own metrics (external call latency) on this port when set.
MDM_WORKER_METRICS_PORT = env_int("MDM_WORKER_METRICS_PORT", 0)
MDM_WORKER_METRICS_ADDRESS = os.environ.get("MDM_WORKER_METRICS_ADDRESS", "127.0.0.1")
MDM_HEALTH_CHECK_TIMEOUT = float(os.environ.get("MDM_HEALTH_CHECK_TIMEOUT", "2"))
# "read": this server is the read lane (README, "Read lane"), answering API reads only; empty: everything.
MDM_SERVER_LANE = os.environ.get("MDM_SERVER_LANE", "").strip().lower()
if MDM_SERVER_LANE not in ("", "read"):
    raise ImproperlyConfigured(f"MDM_SERVER_LANE must be empty or 'read', not {MDM_SERVER_LANE!r}.")

# --- MDM hub ----------------------------------------------------------------------------------
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = False
# Matching (masterdata/services/matching.py): a fuzzy score at or above MDM_AUTO_LINK_SCORE links
# an incoming record to the existing golden record; at or above MDM_DUPLICATE_SUSPECT_SCORE it
# creates a new record and a duplicate suspect for a steward.
MDM_AUTO_LINK_SCORE = float(os.environ.get("MDM_AUTO_LINK_SCORE", "95"))
MDM_DUPLICATE_SUSPECT_SCORE = float(os.environ.get("MDM_DUPLICATE_SUSPECT_SCORE", "85"))
# How long a pull holds its source/domain lock before another pull may take over (a killed worker).
MDM_SYNC_LOCK_SECONDS = env_int("MDM_SYNC_LOCK_SECONDS", 900)
# Ingest endpoint (POST /api/v1/ingest/<source>/<domain>/): records per request, and how long an
# Idempotency-Key is remembered (a retry within that time replays the first answer).
MDM_INGEST_MAX_RECORDS = env_int("MDM_INGEST_MAX_RECORDS", 1000)
MDM_INGEST_KEY_DAYS = env_int("MDM_INGEST_KEY_DAYS", 7)
# Push delivery (connectors/services/push.py, retry.py): attempts before a delivery is parked as a
# dead letter, the backoff between them (base × 2^n, capped, ±50 % jitter: 8 attempts ≈ 1 hour),
# how long one worker holds a target, and the queue after-commit dispatch is sent to (default queue).
MDM_PUSH_MAX_ATTEMPTS = env_int("MDM_PUSH_MAX_ATTEMPTS", 8)
MDM_PUSH_BACKOFF_SECONDS = env_int("MDM_PUSH_BACKOFF_SECONDS", 30)
MDM_PUSH_BACKOFF_MAX_SECONDS = env_int("MDM_PUSH_BACKOFF_MAX_SECONDS", 1800)
MDM_PUSH_LEASE_SECONDS = env_int("MDM_PUSH_LEASE_SECONDS", 300)
MDM_PUSH_QUEUE = os.environ.get("MDM_PUSH_QUEUE", "")
# Retention (connectors/services/retention.py, daily): delivered and closed dead-letter deliveries older
# than MDM_DELIVERY_RETENTION_DAYS are deleted; change events (the feed) only when
# MDM_CHANGE_EVENT_RETENTION_DAYS is above 0 — and then only once every internal reader is past them.
MDM_DELIVERY_RETENTION_DAYS = env_int("MDM_DELIVERY_RETENTION_DAYS", 30)
MDM_CHANGE_EVENT_RETENTION_DAYS = env_int("MDM_CHANGE_EVENT_RETENTION_DAYS", 0)
# Alerts (connectors/services/alerts.py): the admins get one e-mail per incident — a source/domain
# whose last MDM_ALERT_FAILED_RUNS runs failed, one with more than MDM_ALERT_FAILURE_THRESHOLD open
# failures, a push target or webhook with at least MDM_ALERT_DEAD_LETTERS dead letters — sent to
# MDM_ALERT_EMAILS (comma-separated), else to every active superuser with an e-mail address.
MDM_ALERT_FAILED_RUNS = env_int("MDM_ALERT_FAILED_RUNS", 3)
MDM_ALERT_FAILURE_THRESHOLD = env_int("MDM_ALERT_FAILURE_THRESHOLD", 100)
MDM_ALERT_DEAD_LETTERS = env_int("MDM_ALERT_DEAD_LETTERS", 1)
MDM_ALERT_EMAILS = env_list("MDM_ALERT_EMAILS")

# --- E-mail (alerts) ----------------------------------------------------------------------------
# The quick start prints e-mails to the console; production names its SMTP relay.
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("DJANGO_EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "mdm-hub@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
