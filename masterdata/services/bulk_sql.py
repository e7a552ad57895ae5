"""Bulk writes of the sync path: PostgreSQL's COPY and ``UPDATE … FROM unnest(…)``, the ORM elsewhere.

Why not ``bulk_create``/``bulk_update`` on PostgreSQL: measured on 1,000 customers,
``bulk_create`` takes ≈200 ms (Django sends each column as an array, and psycopg escapes every
quote of every JSON value — provenance, payloads — in Python) where COPY takes ≈70 ms, close to
the database's own cost; ``bulk_update`` builds a ``CASE WHEN`` expression per row and field
(≈170 ms for 100 rows of 7 fields) where one ``UPDATE … FROM unnest(…)`` takes milliseconds.
Other databases (SQLite in the quick start) use the ORM's bulk methods: same rows, slower.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from masterdata import jsontext

BATCH = 500


def fast() -> bool:
    """True where COPY and UPDATE … FROM VALUES are available."""
    return connection.vendor == "postgresql"


def insert(
    model: type[models.Model],
    objs: Sequence[models.Model | Row],
    *,
    with_ids: bool = True,
    memo: JsonMemo | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """Insert ``objs``; ``with_ids``: give each its primary key (taken from the table's sequence).

    ``memo``: JSON texts already made for the same documents (a record and its history row share them).
    ``meanwhile``: work without the database, done once every row is sent and while the database
    still stores them (a COPY's rows are processed as they arrive; only its end waits for them all).
    """
    if not objs:
        if meanwhile is not None:
            meanwhile()
        return
    if not fast():
        model._base_manager.bulk_create(objs, batch_size=BATCH)
        if meanwhile is not None:
            meanwhile()
        return
    if with_ids:
        missing = [obj for obj in objs if obj.pk is None]
        for obj, pk in zip(missing, _next_ids(model, len(missing)), strict=True):
            obj.pk = pk
    plan = RowPlan(_insert_fields(model, objs, with_ids=with_ids), memo)
    with copy_into(model, plan.fields) as copy:
        write_row, row = copy.write_row, plan.row
        for obj in objs:
            write_row(row(obj))
        if meanwhile is not None:
            meanwhile()
    _saved(objs)


def _insert_fields(model: type[models.Model], objs: Sequence[Any], *, with_ids: bool) -> list[models.Field]:
    """The columns an insert writes: columns the database fills itself (``db_default``, e.g. the
    outbox's transaction id) are left out, and so is the primary key without ``with_ids``."""
    return [
        f
        for f in model._meta.concrete_fields
        if (with_ids or not f.primary_key) and not (f.has_db_default() and _database_default(objs[0], f))
    ]


def _saved(objs: Iterable[Any]) -> None:
    alias = connections[DEFAULT_DB_ALIAS].alias
    for obj in objs:
        if isinstance(obj, models.Model):
            obj._state.adding = False
            obj._state.db = alias


class Prepared:
    """An insert (without ids, as ``insert(with_ids=False)``) whose COPY rows are made ahead of it.

    Made while the database is busy with an earlier statement of the batch (see ``meanwhile`` of
    :func:`insert`), the rows cost no time of their own when :meth:`write` sends them.
    """

    def __init__(self, model: type[models.Model], memo: JsonMemo | None = None) -> None:
        self.model, self.memo = model, memo
        self.objs: list[Any] = []
        self.rows: list[list[Any]] = []
        self.plan: RowPlan | None = None

    def add(self, objs: Sequence[models.Model | Row]) -> None:
        self.objs += objs
        if fast() and objs:
            if self.plan is None:
                self.plan = RowPlan(_insert_fields(self.model, objs, with_ids=False), self.memo)
            row = self.plan.row
            self.rows += [row(obj) for obj in objs]

    def write(self) -> None:
        if not self.objs:
            return
        if not fast():
            self.model._base_manager.bulk_create(self.objs, batch_size=BATCH)
            return
        assert self.plan is not None
        with copy_into(self.model, self.plan.fields) as copy:
            write_row = copy.write_row
            for row in self.rows:
                write_row(row)
        _saved(self.objs)


@contextmanager
def copy_into(model: type[models.Model], fields: Sequence[models.Field]) -> Iterator[Any]:
    """A COPY into ``model``'s table for ``fields``, ready for ``write_row`` (values already converted)."""
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    statement = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    with db.cursor() as cursor, db.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        yield copy


class RowPlan:
    """How the COPY row of an object is made, decided once per statement rather than per value.

    COPY takes its columns in any order: the columns whose values go as they are (texts, numbers,
    keys) come first and are read together from the object's ``__dict__`` (one C call for all of
    them); the others follow, each read and converted (``pre_save``, JSON, decimals, datetimes).
    ``pre_save``: read columns through it where the field does something there (as inserts do);
    off for rows copied from another record's values (history).
    """

    def __init__(self, fields: Sequence[models.Field], memo: JsonMemo | None = None, *, pre_save: bool = True) -> None:
        db = connections[DEFAULT_DB_ALIAS]
        plain: list[models.Field] = []
        other: list[tuple[models.Field, Callable[[Any], Any], Callable[[Any], Any]]] = []
        for f in fields:
            convert = _conversion(f, db, memo)
            read = _reader(f) if pre_save else _plain_reader(f.attname)
            if convert is None and (not pre_save or type(f).pre_save is models.Field.pre_save):
                plain.append(f)
            else:
                other.append((f, read, convert or _same))
        self.fields: list[models.Field] = [*plain, *(f for f, _, _ in other)]
        self._names = [f.attname for f in plain]
        self._get = _getter(self._names)
        self._other = [(read, convert) for _, read, convert in other]

    def row(self, obj: Any) -> list[Any]:
        """The values of ``obj`` in the order of :attr:`fields`, converted for COPY."""
        try:
            head = self._get(obj.__dict__)
        except KeyError:  # a deferred column: read as an attribute (loading it), as Django would
            head = [getattr(obj, name) for name in self._names]
        return [*head, *[convert(read(obj)) for read, convert in self._other]]


def _getter(names: list[str]) -> Callable[[dict[str, Any]], Sequence[Any]]:
    if not names:
        return lambda values: ()
    if len(names) == 1:
        name = names[0]
        return lambda values: (values[name],)
    return operator.itemgetter(*names)


def _plain_reader(attname: str) -> Callable[[Any], Any]:
    return lambda obj: obj.__dict__[attname] if attname in obj.__dict__ else getattr(obj, attname)


def _same(value: Any) -> Any:
    return value


def column_converters(fields: Sequence[models.Field], memo: JsonMemo | None = None) -> list[Callable[[Any], Any]]:
    """How each of ``fields`` goes to the database (for rows built without model instances)."""
    db = connections[DEFAULT_DB_ALIAS]
    return [_converter(f, db, memo) for f in fields]


def among(queryset: models.QuerySet, attname: str, values: Iterable[Any]) -> models.QuerySet:
    """``queryset`` filtered on ``attname IN values``; on PostgreSQL as ``= ANY(array)``.

    One parameter instead of one per value: with a thousand values Django and psycopg spend
    milliseconds building and parsing the placeholders; the database plans both alike.
    """
    values = list(values)
    if not fast():
        return queryset.filter(**{f"{attname}__in": values})
    opts = queryset.model._meta
    f = opts.get_field(attname)
    quote = connection.ops.quote_name
    kind = (f.target_field if f.is_relation else f).db_type(connection)
    kind = "text" if kind.startswith("varchar") else kind  # a cast to varchar(n) would cut longer values
    condition = f"{quote(opts.db_table)}.{quote(f.column)} = ANY(%s::{kind}[])"
    return queryset.extra(where=[condition], params=[values])


def raw_rows(
    queryset: models.QuerySet, columns: Sequence[str], *, meanwhile: Callable[[], None] | None = None
) -> list[tuple[Any, ...]]:
    """``queryset.values_list(*columns)`` as the database returns the values (no field conversions).

    For rows of which most are looked at and dropped: converting every value (decoding JSON
    documents) cost more than the query. Convert the few that are kept with :func:`document`.
    Elsewhere than on PostgreSQL, the values are converted (and :func:`document` leaves them).
    ``meanwhile``: work without the database, done while the database runs the query.
    """
    if not fast():
        if meanwhile is not None:
            meanwhile()
        return list(queryset.values_list(*columns))
    sql, params = queryset.values_list(*columns).query.sql_with_params()
    with connection.cursor() as cursor:
        with overlapped(connection, meanwhile):
            cursor.execute(sql, params)
        return cursor.fetchall()


def document(model: type[models.Model], name: str, value: Any) -> Any:
    """A value of :func:`raw_rows` as the ORM would have returned it (a JSON document decoded, unsealed)."""
    f = model._meta.get_field(name)
    if not fast() or not hasattr(f, "from_db_value"):
        return value
    return f.from_db_value(value, None, connection)


def update(
    model: type[models.Model],
    objs: Sequence[models.Model],
    field_names: Sequence[str],
    *,
    memo: JsonMemo | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """Write ``field_names`` of ``objs`` (each row its own values), one statement per 500 rows.

    ``meanwhile``: work without the database, done while the database runs the statements
    (their values are read before it starts).

    On PostgreSQL: ``UPDATE … FROM unnest(%b::type[], …)``, one binary array per column, bound by
    the server. The statement's text is the same whatever the number of rows, so psycopg converts
    it once; the arrays go as length-prefixed bytes. Measured on 100 changed rows, it took 4–5 ms
    where ``UPDATE … FROM (VALUES …)`` with a literal per value took 8–13 ms: psycopg split a
    statement of 800 placeholders and quoted every JSON text in Python, and the server parsed it.
    """
    if not objs or not fast():
        if objs:
            model._base_manager.bulk_update(objs, field_names, batch_size=BATCH)
        if meanwhile is not None:
            meanwhile()
        return
    opts = model._meta
    db = connections[DEFAULT_DB_ALIAS]
    fields = [opts.pk, *(opts.get_field(name) for name in field_names)]
    columns = [(f, _converter(f, db, memo)) for f in fields]
    # A column that decides its stored form from the row (a sealed document) is read through pre_save.
    read = [(f.pre_save, True) if hasattr(f, "json_for_write") else (f.attname, False) for f, _ in columns]
    quote = db.ops.quote_name
    arrays = ", ".join(f"%b::{_array_element_type(f, db)}[]" for f in fields)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
    aliases = ", ".join(quote(f.column) for f in fields)
    pk = quote(opts.pk.column)
    sql = (
        f"UPDATE {quote(opts.db_table)} AS t SET {assignments} "
        f"FROM unnest({arrays}) AS v({aliases}) WHERE t.{pk} = v.{pk}"
    )
    with server_bound_cursor(db) as cursor, overlapped(db, meanwhile):
        for start in range(0, len(objs), BATCH):
            chunk = objs[start : start + BATCH]
            params = [
                [convert(source(obj, False)) for obj in chunk]
                if by_row
                else [convert(getattr(obj, source)) for obj in chunk]
                for (source, by_row), (_, convert) in zip(read, columns, strict=True)
            ]
            cursor.execute(sql, params)


def _array_element_type(f: models.Field, db: Any) -> str:
    """The column's type for an array of its values: ``text`` for ``varchar(n)`` (storing the value checks
    its length and refuses a longer one, where a cast to ``varchar(n)`` would cut it)."""
    kind = f.db_type(db)
    return "text" if kind.startswith("varchar") else kind


@contextmanager
def overlapped(db: Any, meanwhile: Callable[[], None] | None) -> Iterator[None]:
    """Statements executed in the block are sent at once; ``meanwhile`` runs as the block ends,
    while the database executes them, and the block waits for their results only after it.

    psycopg's pipeline mode: Python and the database work at the same time, on both cores,
    instead of each waiting for the other. An error of a statement is raised as the block ends,
    as Django's exception class. Without ``meanwhile`` this is an ordinary block.
    """
    if meanwhile is None:
        yield
        return
    db.ensure_connection()
    with db.wrap_database_errors, db.connection.pipeline():
        yield
        meanwhile()


@contextmanager
def server_bound_cursor(db: Any) -> Iterator[Any]:
    """A cursor of ``db`` whose parameters are bound by the server (psycopg's ``Cursor``), in Django's wrapper.

    Django's cursors bind on the client (one literal per value in the statement's text), which
    cannot send binary arrays. The wrapper keeps what Django's own cursors give: the connection's
    execute wrappers, query logging under ``DEBUG`` and Django's database error classes.
    """
    import psycopg
    from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

    db.ensure_connection()
    wrapper = CursorDebugWrapper if db.queries_logged else CursorWrapper
    with wrapper(psycopg.Cursor(db.connection), db) as cursor:
        yield cursor


def _database_default(obj: models.Model, f: models.Field) -> bool:
    from django.db.models.expressions import DatabaseDefault

    return isinstance(obj.__dict__.get(f.attname), DatabaseDefault)


def _next_ids(model: type[models.Model], count: int) -> list[int]:
    if not count:
        return []
    opts = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [opts.db_table, opts.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


#: Types psycopg adapts as they are once a model field has cleaned them (text, numbers, keys).
PLAIN_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "FloatField",
        "ForeignKey",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
    }
)


class Row:
    """A row to :func:`insert` without building a model instance: column values by attname.

    Model instances cost more to build than the rest of their row's insert; rows that are
    written once and dropped (new source links) need only their values.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def row_maker(model: type[models.Model]) -> Callable[..., Row]:
    """A function making :class:`Row` objects of ``model``: field defaults, then the given values."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    fixed = {f.attname: f.get_default() for f in fields if not callable(f.default)}
    fresh = [(f.attname, f.get_default) for f in fields if callable(f.default)]

    def make(**values: Any) -> Row:
        return Row({**fixed, **{name: default() for name, default in fresh}, **values})

    return make


class JsonMemo(dict):
    """JSON texts by the identity of the document they encode, for one write (the documents stay alive)."""


def _reader(f: models.Field) -> Callable[[models.Model], Any]:
    """How a column's value is read from an instance: ``pre_save`` only for fields that do something there."""
    if type(f).pre_save is models.Field.pre_save:
        attname = f.attname
        return lambda obj: obj.__dict__[attname] if attname in obj.__dict__ else getattr(obj, attname)
    return lambda obj: f.pre_save(obj, True)


def _converter(f: models.Field, db: Any, memo: JsonMemo | None = None) -> Callable[[Any], Any]:
    """How a field's value goes to the database, chosen once per column rather than per value."""
    return _conversion(f, db, memo) or _same


def _conversion(f: models.Field, db: Any, memo: JsonMemo | None = None) -> Callable[[Any], Any] | None:
    """:func:`_converter`, or None where the value goes as it is."""
    if hasattr(f, "json_for_write"):
        return f.json_for_write  # a sealed document: its own JSON (sealed or plain, as its row's domain says)
    if isinstance(f, models.JSONField):
        encoder = f.encoder

        def encode(value: Any) -> str:
            return jsontext.text(value, encoder)

        def to_json(value: Any) -> str | None:
            if value is None:
                return None
            if not value and isinstance(value, dict | list):
                return "{}" if isinstance(value, dict) else "[]"
            if memo is None:
                return encode(value)
            text = memo.get(id(value))
            if text is None:
                text = memo[id(value)] = encode(value)
            return text

        return to_json
    stock = type(f).__module__.startswith("django.db.models.fields")  # a custom field prepares its own values
    if f.get_internal_type() in PLAIN_TYPES and stock:
        return None
    if stock and f.get_internal_type() == "DateTimeField" and db.vendor == "postgresql":
        # An aware datetime goes as it is (what Django would send); a naive one takes Django's way (a warning).
        prepare = f.get_db_prep_save
        return (
            lambda value: value if value is None or (type(value) is datetime and value.tzinfo) else prepare(value, db)
        )
    if stock and f.get_internal_type() == "DecimalField" and db.vendor == "postgresql":
        prepare = f.get_db_prep_save
        return lambda value: value if value is None or type(value) is Decimal else prepare(value, db)
    return lambda value: None if value is None else f.get_db_prep_save(value, db)


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused for one batch (reference counting still frees memory).

    A batch allocates hundreds of thousands of objects that live until it ends (records, values,
    rows); every so many allocations the collector then walks *all* objects of the process, which
    took a quarter of a first load's CPU time (measured on 20,000 customers). What a batch leaves
    in cycles is collected once it ends, when the collector is running again. A caller that
    paused it itself keeps it paused.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
