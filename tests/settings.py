"""Test settings: the real settings, pointed at the local PostgreSQL and Redis.

They add one throwaway app, ``tests.sixth_domain``, that registers a sixth domain the way a
real one would be added (a model + one registry entry), proving routes, admin and history
follow the registry.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from mdm_project.settings import *  # noqa: F403
from mdm_project.settings import INSTALLED_APPS

INSTALLED_APPS = ["tests.sixth_domain", *INSTALLED_APPS]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns about a missing root)
