"""The ledger writes of a push round, set-based: a few statements per round whatever its size.

Why not the ORM per outcome, or ``UPDATE … FROM (VALUES …)`` with one placeholder per value: a
round of 1,000 records spent more time in Python building and splitting those statements (and
model instances to read them from) than the database spent running them. Here every column
travels as one array parameter and the database unnests it: ``UPDATE … FROM unnest(…)``. Other
databases (SQLite in the quick start) take the ORM's way, row by row: same rows, slower.

Links are read as :class:`LinkRow` values rather than model instances for the same reason; what
the target holds (``source_values``) is written in its column form, sealed for domains with
sensitive fields exactly as the model field would seal it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from connectors.models import Delivery, DeliveryStatus
from masterdata.fields import domain_seals
from masterdata.models import LinkStatus, SourceLink
from masterdata.services import bulk_sql


@dataclass(slots=True)
class LinkRow:
    """The part of a source link a push reads and writes."""

    pk: int
    golden_id: int
    source_key: str
    source_values: dict[str, Any] | None
    source_etag: str


@dataclass(slots=True)
class LinkWrite:
    """What the target holds now, for one record: an existing link's new state, or a new link."""

    golden_id: int
    source_values: dict[str, Any]
    etag: str
    version: int
    pk: int | None = None
    source_key: str = ""


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of whole numbers, sent as one text parameter (cast where it is used).

    psycopg adapts a Python list element by element in Python; a round's thousand ids as one
    ready string cost a join.
    """
    return "{" + ",".join(str(int(value)) for value in values) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of texts (quoted and escaped; None as NULL), as :func:`int_array`."""
    return "{" + ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"  # fmt: skip


def among_ids(queryset: QuerySet, attname: str, ids: Iterable[int]) -> QuerySet:
    """``queryset`` filtered on a whole-number column being one of ``ids`` (one array parameter)."""
    if not bulk_sql.fast():
        return queryset.filter(**{f"{attname}__in": list(ids)})
    opts = queryset.model._meta
    column = f"{connection.ops.quote_name(opts.db_table)}.{connection.ops.quote_name(opts.get_field(attname).column)}"
    return queryset.extra(where=[f"{column} = ANY(%s::bigint[])"], params=[int_array(ids)])


def read_links(source_id: int, domain: str, golden_ids: Sequence[int]) -> dict[int, LinkRow]:
    """Each record's active link to the source (the newest when there are several)."""
    links = among_ids(
        SourceLink.objects.filter(source_id=source_id, domain=domain, status=LinkStatus.ACTIVE), "golden_id", golden_ids
    ).order_by("golden_id", "-updated_at", "-id")
    found: dict[int, LinkRow] = {}
    for row in links.values_list("id", "golden_id", "source_key", "source_values", "source_etag"):
        if row[1] not in found:
            found[row[1]] = LinkRow(*row)
    return found


def links_by_key(source_id: int, domain: str, keys: Iterable[str]) -> dict[str, LinkRow]:
    """Links of the source holding these keys, whatever their record or status (a key is unique per source)."""
    rows = bulk_sql.among(SourceLink.objects.filter(source_id=source_id, domain=domain), "source_key", keys)
    return {
        row[2]: LinkRow(*row)
        for row in rows.values_list("id", "golden_id", "source_key", "source_values", "source_etag")
    }


def mark_delivered(rows: Sequence[tuple[int, int, int | None, bool]], now: datetime) -> None:
    """Deliveries done: ``(delivery id, version delivered, response status, attempted)`` each; one statement."""
    if not rows:
        return
    if not bulk_sql.fast():
        for delivery_id, version, status, attempted in rows:
            Delivery.objects.filter(pk=delivery_id).exclude(status=DeliveryStatus.DELIVERED).update(
                status=DeliveryStatus.DELIVERED, delivered_at=now, delivered_version=version,
                last_attempt_at=now if attempted else None, response_code=status, last_error="", classification="",
            )  # fmt: skip
        return
    ids, versions, statuses, attempted = zip(*rows, strict=True)
    table = connection.ops.quote_name(Delivery._meta.db_table)
    sql = (
        f"UPDATE {table} AS d SET status = %s, delivered_at = %s, delivered_version = v.version, "
        "last_attempt_at = CASE WHEN v.attempted THEN %s::timestamptz END, response_code = v.code, "
        "last_error = '', classification = '' "
        "FROM unnest(%s::bigint[], %s::integer[], %s::integer[], %s::boolean[]) AS v(id, version, code, attempted) "
        "WHERE d.id = v.id AND d.status <> %s"
    )
    codes = "{" + ",".join("NULL" if code is None else str(code) for code in statuses) + "}"
    flags = "{" + ",".join("t" if flag else "f" for flag in attempted) + "}"
    params = [DeliveryStatus.DELIVERED.value, now, now, int_array(ids), int_array(versions), codes, flags,
              DeliveryStatus.DELIVERED.value]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def insert_deliveries(rows: Sequence[tuple[int, int, str, int, int]], now: datetime) -> None:
    """New pending deliveries, ``(target id, event id, domain, golden id, version)`` each, in one statement.

    One delivery per (event, target) stands (the outbox's unique constraint): a row that exists is
    left alone (``ON CONFLICT DO NOTHING``, as ``bulk_create(ignore_conflicts=True)`` does).
    """
    if not rows:
        return
    if not bulk_sql.fast():
        Delivery.objects.bulk_create(
            [Delivery(target_id=t, event_id=e, domain=d, golden_id=g, version=v, next_attempt_at=now, created_at=now)
             for t, e, d, g, v in rows],
            batch_size=1000, ignore_conflicts=True,
        )  # fmt: skip
        return
    given = {"target_id": 0, "event_id": 1, "domain": 2, "golden_id": 3, "version": 4}
    quote = connection.ops.quote_name
    names, values, params = [], [], []
    for f in Delivery._meta.concrete_fields:
        if f.primary_key:
            continue
        names.append(quote(f.column))
        if f.attname in given:
            values.append(f"v.{f.attname}")
        else:  # the model's default (the time for the timestamps)
            values.append(f"%s::{f.db_type(connection)}")
            default = f.get_default()
            params.append(now if f.attname in ("next_attempt_at", "created_at") else getattr(default, "value", default))
    columns = list(zip(*rows, strict=True))
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} ({', '.join(names)}) SELECT {', '.join(values)} "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::integer[]) "
        "AS v(target_id, event_id, domain, golden_id, version) ON CONFLICT DO NOTHING"
    )
    params += [int_array(columns[0]), int_array(columns[1]), text_array(columns[2]), int_array(columns[3]),
               int_array(columns[4])]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


class LinkWriter:
    """Writes what a target holds on its source links, in the column form the model would store."""

    def __init__(self, source_id: int, domain: str) -> None:
        self.source_id, self.domain = source_id, domain
        self.field = SourceLink._meta.get_field("source_values")
        self.seals = domain_seals(domain)

    def document(self, values: dict[str, Any]) -> str:
        """``values`` as the column holds them (sealed for domains with sensitive fields)."""
        return self.column_json(self.field, values)

    def update(self, writes: Sequence[LinkWrite], now: datetime) -> None:
        """Existing links (``pk`` set): record, values, ETag, version pushed, active — one statement."""
        if not writes:
            return
        if not bulk_sql.fast():
            for write in writes:
                SourceLink.objects.filter(pk=write.pk).update(
                    golden_id=write.golden_id, source_values=write.source_values, source_etag=write.etag,
                    last_pushed_version=write.version, status=LinkStatus.ACTIVE, updated_at=now,
                )  # fmt: skip
            return
        table = connection.ops.quote_name(SourceLink._meta.db_table)
        kind = self.field.db_type(connection)
        sql = (
            f"UPDATE {table} AS l SET golden_id = v.golden_id, source_values = v.source_values::{kind}, "
            "source_etag = v.etag, last_pushed_version = v.version, status = %s, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::integer[]) "
            "AS v(id, golden_id, source_values, etag, version) WHERE l.id = v.id"
        )
        params = [
            LinkStatus.ACTIVE.value,
            now,
            int_array(w.pk for w in writes),
            int_array(w.golden_id for w in writes),
            text_array([self.document(w.source_values) for w in writes]),
            text_array([w.etag for w in writes]),
            int_array(w.version for w in writes),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    def insert(self, writes: Sequence[LinkWrite], now: datetime) -> None:
        """New links (the key a create answered) in one COPY; should one have appeared meanwhile, update it."""
        if not writes:
            return
        rows = [
            {"source_id": self.source_id, "domain": self.domain, "source_key": w.source_key, "golden_id": w.golden_id,
             "last_seen_at": now, "source_values": dict(w.source_values), "source_etag": w.etag,
             "last_pushed_version": w.version, "status": LinkStatus.ACTIVE.value, "created_at": now, "updated_at": now}
            for w in writes
        ]  # fmt: skip
        if self._copied(rows):
            return
        # A key already has a link (a pull linked it meanwhile): insert around it, then update it.
        SourceLink.objects.bulk_create([SourceLink(**row) for row in rows], ignore_conflicts=True)
        stored = links_by_key(self.source_id, self.domain, [w.source_key for w in writes])
        merged = []
        for write in writes:
            link = stored[write.source_key]
            merged.append(
                LinkWrite(write.golden_id, {**(link.source_values or {}), **write.source_values}, write.etag,
                          write.version, pk=link.pk)
            )  # fmt: skip
        self.update(merged, now)

    def _copied(self, rows: list[dict[str, Any]]) -> bool:
        """COPY ``rows`` in a savepoint; False (nothing written) when a key already has a link."""
        try:
            with transaction.atomic():
                self._copy(rows)
        except IntegrityError:
            return False
        return True

    def _copy(self, rows: list[dict[str, Any]]) -> None:
        """COPY whole link rows: given columns as they are, JSON documents in column form, the rest their defaults.

        What is the same for every row of a round (source, domain, times, defaults) is converted once.
        """
        if not bulk_sql.fast():
            SourceLink.objects.bulk_create([SourceLink(**row) for row in rows])
            return
        fields = [f for f in SourceLink._meta.concrete_fields if not f.primary_key]
        first = rows[0]
        # Each row's own document is sealed on its own (no two rows share a sealed text).
        others = ("source_key", "golden_id", "source_etag", "last_pushed_version")
        varying = ["source_values", *(name for name in others if any(row[name] != first[name] for row in rows))]
        template: list[Any] = []
        plan: list[tuple[int, str, bool]] = []  # (position, row key, a JSON document)
        for position, f in enumerate(fields):
            is_json = hasattr(f, "json_for_write")
            if f.attname in varying:
                plan.append((position, f.attname, is_json))
                template.append(None)
                continue
            value = first.get(f.attname, _ABSENT)
            value = f.get_default() if value is _ABSENT else value
            template.append(self.column_json(f, value) if is_json else value)
        with bulk_sql.copy_into(SourceLink, fields) as copy:
            for row in rows:
                line = template.copy()
                for position, name, is_json in plan:
                    line[position] = self.column_json(fields[position], row[name]) if is_json else row[name]
                copy.write_row(line)

    def column_json(self, f: Any, value: Any) -> str:
        """A JSON column's text for a document (sealed for domains with sensitive fields)."""
        return json.dumps(f.sealed(value) if self.seals else value, cls=DjangoJSONEncoder)


_ABSENT = object()
