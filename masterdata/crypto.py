"""The hub's keys: encryption at rest (Fernet) and the keyed blind index of sensitive values.

Why here: every encrypted column of the hub — connection and webhook secrets in ``connectors``,
sensitive golden fields in ``masterdata`` — shares one key ring, so one command
(``manage.py rotate_keys``) can rotate all of them; ``connectors`` builds on this module (the
dependency runs connectors → masterdata, never back).

* ``MDM_ENCRYPTION_KEYS`` — comma-separated Fernet keys (``Fernet.generate_key()``); the first
  encrypts, every one decrypts (:class:`~cryptography.fernet.MultiFernet`). Rotation: put a new
  key first, keep the old ones, run ``manage.py rotate_keys``, then drop the old keys.
* ``MDM_BLIND_INDEX_KEY`` — the HMAC-SHA256 key of the blind index that lets the database find a
  sensitive value by exact match without ever holding it in clear. After changing it, run
  ``manage.py rotate_keys`` (it recomputes every index).
* Sealed documents (:func:`seal`): JSON columns that may carry sensitive values in any shape —
  source payloads, conflict candidates, failure payloads — are kept as ``{"sealed": <token>}``
  under the same key ring, and rotated by the same command.
* With a key unset and ``DEBUG`` on, a development key is derived from ``SECRET_KEY`` so the quick
  start works; with ``DEBUG`` off, using the missing key raises
  :class:`~django.core.exceptions.ImproperlyConfigured`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder

KEYS_ENV = "MDM_ENCRYPTION_KEYS"
BLIND_INDEX_KEY_ENV = "MDM_BLIND_INDEX_KEY"
#: The label the first release derived its development key with: kept so quick-start data still opens.
_DEV_KEY_LABEL = b"mdm-hub/connectors/dev-secret-key:"
_DEV_INDEX_LABEL = b"mdm-hub/blind-index:"
MIN_BLIND_INDEX_KEY_LENGTH = 32
_BLANKS = re.compile(r"\s+")


@lru_cache(maxsize=8)
def _build_fernet(keys_value: str, secret_key: str, debug: bool) -> MultiFernet:
    keys = [k.strip() for k in keys_value.split(",") if k.strip()]
    if not keys:
        if not debug:
            raise ImproperlyConfigured(f"{KEYS_ENV} must hold at least one Fernet key when DJANGO_DEBUG is off.")
        keys = [base64.urlsafe_b64encode(hashlib.sha256(_DEV_KEY_LABEL + secret_key.encode()).digest()).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"{KEYS_ENV} holds a value that is not a Fernet key.") from exc


def fernet() -> MultiFernet:
    """The current key ring (rebuilt when the environment or settings change)."""
    return _build_fernet(os.environ.get(KEYS_ENV, ""), settings.SECRET_KEY, bool(settings.DEBUG))


def generate_key() -> str:
    """A new Fernet key for ``MDM_ENCRYPTION_KEYS``."""
    return Fernet.generate_key().decode()


@lru_cache(maxsize=8)
def _build_index_key(value: str, secret_key: str, debug: bool) -> bytes:
    if not value:
        if not debug:
            raise ImproperlyConfigured(f"{BLIND_INDEX_KEY_ENV} must be set when DJANGO_DEBUG is off.")
        return hashlib.sha256(_DEV_INDEX_LABEL + secret_key.encode()).digest()
    if len(value) < MIN_BLIND_INDEX_KEY_LENGTH:
        raise ImproperlyConfigured(f"{BLIND_INDEX_KEY_ENV} must be at least {MIN_BLIND_INDEX_KEY_LENGTH} characters.")
    return value.encode("utf-8")


def blind_index_key() -> bytes:
    return _build_index_key(os.environ.get(BLIND_INDEX_KEY_ENV, ""), settings.SECRET_KEY, bool(settings.DEBUG))


def normalise_for_index(value: str) -> str:
    """The form two values must share to match: blanks and letter case do not count.

    Why: ``CN12 3456 7890`` and ``cn1234567890`` are the same account number, and an exact-match
    index over the clear text would miss that.
    """
    return _BLANKS.sub("", value).upper()


def blind_index(value: str) -> str:
    """HMAC-SHA256 (hex, 64 characters) of the normalised value; blank for a blank value."""
    normalised = normalise_for_index(value)
    if not normalised:
        return ""
    return hmac.new(blind_index_key(), normalised.encode("utf-8"), hashlib.sha256).hexdigest()


class EncryptedColumn:
    """Mixin of model fields whose column holds ciphertext under the key ring above.

    ``manage.py rotate_keys`` finds every such column of every model (history tables included)
    and rewrites each stored value with :meth:`rotate_stored`.
    """

    #: Other columns of the row :meth:`rotate_in_row` needs (a sealed document asks for its domain).
    rotation_columns: tuple[str, ...] = ()

    def rotate_stored(self, stored: str) -> str:
        """``stored`` re-encrypted under the current first key (raises ``InvalidToken`` if no key opens it)."""
        raise TypeError(f"{type(self).__name__} stores ciphertext and must define rotate_stored()")

    def rotate_in_row(self, stored: str, row: dict[str, object]) -> str:
        """``stored`` rotated, knowing the row's :attr:`rotation_columns` (by column name)."""
        return self.rotate_stored(stored)


# --- sealed JSON documents ------------------------------------------------------------------------
#: The one key of a sealed document: ``{"sealed": "<Fernet token of the JSON text>"}``.
SEALED_KEY = "sealed"
_FERNET_TOKEN = re.compile(r"^gAAAAA[A-Za-z0-9_\-=]+$")


def is_sealed(value: object) -> bool:
    """True for ``{"sealed": "<Fernet token>"}``: a document :func:`seal` made."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(SEALED_KEY), str)
        and bool(_FERNET_TOKEN.match(value[SEALED_KEY]))
    )


def seal(value: object, encoder: type[json.JSONEncoder] | None = None) -> dict[str, str]:
    """The whole JSON document encrypted under the key ring, as ``{"sealed": token}``.

    Why the whole document and not the values of known keys: a source may carry a sensitive
    value under any name (``IBAN``, ``acct``, a free-text note); sealing all of it leaves nothing
    to guess. A document already sealed is returned as it is.
    """
    if is_sealed(value):
        return value  # type: ignore[return-value]
    text = json.dumps(value, cls=encoder or DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return {SEALED_KEY: fernet().encrypt(text.encode("utf-8")).decode("ascii")}


def open_sealed(value: dict[str, str]) -> object:
    """The document inside a sealed value (``InvalidToken`` when no configured key opens it)."""
    return json.loads(fernet().decrypt(value[SEALED_KEY].encode("ascii")))


def unseal(value: object) -> object:
    """The document a sealed value stands for; anything else as it is.

    A document no configured key opens stays sealed (shown as such, written back unchanged), so a
    missing key never destroys data and never fails a page.
    """
    if not is_sealed(value):
        return value
    try:
        return open_sealed(value)  # type: ignore[arg-type]
    except InvalidToken:
        return value
