"""The change feed: outbox events in commit order, from a position a reader can resume at exactly.

Why not simply "events with an id above the last one served": ids are handed out when a
transaction inserts its events, not when it commits. A long transaction may take id 10, a short
one id 11 and commit first; a reader that served 11 and remembers "after 11" would never see 10.

On PostgreSQL every event row carries the id of the transaction that wrote it (``txid``, a
column default: ``pg_current_xact_id()``). A position names two snapshots of the database: all
events visible in the first (``seen``) have been served, those visible in the second (``upto``)
but not in the first are being served in id order, after ``after_id``. Reading takes the current
snapshot as the next ``upto`` once the previous one is exhausted. A transaction still running at
a snapshot is invisible in it and visible in a later one, so its events are served then —
whatever their ids — exactly once. Visibility is computed from the snapshot's ``xmin``, ``xmax``
and in-progress list (what ``pg_visible_in_snapshot`` does), so the query uses the ``txid``
index. Two versions of one record can never be served out of order: the later one's
transaction waited for the earlier one's to commit before inserting its event.

Elsewhere (SQLite, the quick start: one writer at a time) id order is commit order and the
position is the last id served.

Positions are short text tokens: ``p1:<seen>:<upto>:<after id>`` (snapshots written
``xmin-xmax-xip.xip…``, empty when none) or ``s1:<last id>``; the empty position is the start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import reduce
from operator import or_
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from masterdata.models import ChangeEvent
from masterdata.registry import registry
from masterdata.services import access

_SNAPSHOT = r"\d+-\d+-(?:\d+(?:\.\d+)*)?"
_PG_POSITION = re.compile(rf"^p1:({_SNAPSHOT})?:({_SNAPSHOT})?:(\d+)$")
_ID_POSITION = re.compile(r"^s1:(\d+)$")
MAX_XIP = 10_000


class InvalidPosition(ValueError):
    """A position that no reader of this feed could have been given."""


@dataclass(frozen=True)
class Snapshot:
    """What a transaction could see: everything below ``xmin``, below ``xmax`` except ``xip``."""

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """From PostgreSQL's ``xmin:xmax:xip,…`` or this module's ``xmin-xmax-xip.…``."""
        parts = re.split(r"[:-]", text, maxsplit=2)
        xip = tuple(int(x) for x in re.split(r"[,.]", parts[2]) if x) if len(parts) > 2 else ()
        return cls(int(parts[0]), int(parts[1]), xip)

    def token(self) -> str:
        return f"{self.xmin}-{self.xmax}-{'.'.join(map(str, self.xip))}"

    def visible(self) -> Q:
        """Events whose transaction had committed when the snapshot was taken."""
        inside = Q(txid__lt=self.xmax) & ~Q(txid__in=self.xip) if self.xip else Q(txid__lt=self.xmax)
        return Q(txid__lt=self.xmin) | inside

    def invisible(self) -> Q:
        return Q(txid__gte=self.xmax) | Q(txid__in=self.xip) if self.xip else Q(txid__gte=self.xmax)


@dataclass(frozen=True)
class Position:
    """Where a reader stands; ``token()`` is what it stores and hands back."""

    after_id: int = 0
    seen: Snapshot | None = None
    upto: Snapshot | None = None
    by_id: bool = False

    def token(self) -> str:
        if self.by_id:
            return f"s1:{self.after_id}"
        seen = self.seen.token() if self.seen else ""
        upto = self.upto.token() if self.upto else ""
        return f"p1:{seen}:{upto}:{self.after_id}"


@dataclass
class FeedPage:
    events: list[ChangeEvent]
    position: str
    """Hand this back as ``after`` to read on."""
    has_more: bool
    """True when more events were already waiting (ask again at once)."""


def snapshots_supported() -> bool:
    return connection.vendor == "postgresql"


def parse_position(token: str | None) -> Position:
    """The position of a token (empty = the start); :class:`InvalidPosition` when it is not one."""
    token = (token or "").strip()
    by_id = not snapshots_supported()
    if not token:
        return Position(by_id=by_id)
    if by_id:
        match = _ID_POSITION.match(token)
        if match is None:
            raise InvalidPosition("Not a position of this feed.")
        return Position(after_id=int(match.group(1)), by_id=True)
    match = _PG_POSITION.match(token)
    if match is None:
        raise InvalidPosition("Not a position of this feed.")
    seen, upto = (Snapshot.parse(text) if text else None for text in match.group(1, 2))
    for snapshot in (seen, upto):
        if snapshot is not None and (snapshot.xmin > snapshot.xmax or len(snapshot.xip) > MAX_XIP):
            raise InvalidPosition("Not a position of this feed.")
    return Position(after_id=int(match.group(3)), seen=seen, upto=upto)


def current_snapshot() -> Snapshot:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return Snapshot.parse(cursor.fetchone()[0])


def read(token: str | None, *, limit: int = 100, events: QuerySet | None = None) -> FeedPage:
    """Up to ``limit`` events after ``token`` (of ``events``, default all), and the position after them."""
    queryset = ChangeEvent.objects.all() if events is None else events
    position = parse_position(token)
    if position.by_id:
        rows = list(queryset.filter(id__gt=position.after_id).order_by("id")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        after = rows[-1].id if rows else position.after_id
        return FeedPage(rows, Position(after_id=after, by_id=True).token(), more)
    served: list[ChangeEvent] = []
    for _round in range(2):  # finish the snapshot being served, then serve up to the current one
        fresh = position.upto is None
        if fresh:
            position = replace(position, upto=current_snapshot(), after_id=0)
        wanted = limit - len(served)
        rows = list(_between(queryset, position).order_by("id")[: wanted + 1])
        if len(rows) > wanted:
            served += rows[:wanted]
            return FeedPage(served, replace(position, after_id=served[-1].id).token(), True)
        served += rows
        position = Position(seen=position.upto)
        if fresh:
            break
    return FeedPage(served, position.token(), False)


def _between(queryset: QuerySet, position: Position) -> QuerySet:
    """Events visible in ``upto`` and not in ``seen``, after ``after_id``."""
    upto = position.upto
    assert upto is not None
    if position.seen is None:
        window = Q(txid__isnull=True) | upto.visible()  # rows written before txids were recorded count as old
    else:
        window = Q(txid__gte=position.seen.xmin) & upto.visible() & position.seen.invisible()
    return queryset.filter(window, id__gt=position.after_id)


def start_position() -> str:
    """A position at "now": reading from it serves only events committed from here on."""
    if not snapshots_supported():
        last = ChangeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        return Position(after_id=last, by_id=True).token()
    return Position(seen=current_snapshot()).token()


def scope(user: Any, domains: list[str] | None = None) -> Q:
    """Events a user may see: of domains they may view, of records owned inside their scope.

    ``owner_org`` is the record's owning org unit when the event was written (DESIGN: the same
    closure-table subquery as the records themselves, no join per domain).
    """
    parts = []
    for domain in registry:
        if domains and domain.name not in domains:
            continue
        if not access.has_domain_permission(user, domain, "view"):
            continue
        if domain.org_field is None or access.has_global_scope(user, "view"):
            parts.append(Q(domain=domain.name))
        else:
            parts.append(Q(domain=domain.name, owner_org__in=access.granted_unit_ids(user, "view")))
    return reduce(or_, parts) if parts else Q(pk__in=[])
