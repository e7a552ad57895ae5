"""JSON texts made by orjson for the sync path's bulk writes and payload hashes.

Every record of a sync has documents encoded (its provenance, its source payload, its history
row's copies) and its payload hashed: with :func:`json.dumps` that was a tenth of a first load's
Python time. orjson, a maintained Rust encoder, makes the same JSON about ten times faster.

It keeps :func:`json.dumps`'s meaning: dates, times, dataclasses and every type orjson does not
know go to the field's encoder (``DjangoJSONEncoder`` where a field names it), which refuses what
it does not know as before; what orjson itself refuses (integers beyond 64 bits, keys that are
not text) is encoded by :func:`json.dumps`. One difference remains: orjson writes NaN and
infinities as ``null``, where :func:`json.dumps` wrote texts that PostgreSQL refuses as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson

#: Dates, times and dataclasses are left to the encoder's ``default``, as :mod:`json` does (orjson's own
#: formats differ); the API's renderer takes the same options.
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@cache
def default_of(encoder: type[json.JSONEncoder]) -> Callable[[Any], Any]:
    """The ``default`` of one instance of ``encoder``, made once: orjson calls it for what it does not know."""
    return encoder().default


def dumps(value: Any, encoder: type[json.JSONEncoder] | None = None, *, sort_keys: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON; ``sort_keys``: keys in order (a canonical text, for hashing)."""
    option = OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else OPTIONS
    try:
        return orjson.dumps(value, default=default_of(encoder or json.JSONEncoder), option=option)
    except TypeError:  # orjson.JSONEncodeError is one; an unknown type fails here again, as it did before
        return json.dumps(value, cls=encoder, sort_keys=sort_keys, separators=(",", ":")).encode()


def text(value: Any, encoder: type[json.JSONEncoder] | None = None) -> str:
    """``value`` as JSON text, for a ``json``/``jsonb`` column."""
    return dumps(value, encoder).decode()
