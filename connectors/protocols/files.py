"""Files: CSV, JSON and NDJSON from a drop directory (``Connection.base_url``) or an upload.

Files are streamed, never loaded whole: CSV row by row, NDJSON line by line, JSON arrays
through ijson's incremental parser; only one page of records is held at a time.

``spec.resource`` is a file name or glob inside the drop directory (``customers_*.csv``). Files
are read oldest first (modification time, then name); the cursor is (modification time, name)
of the last file read completely, so each file is read once (``lookback_seconds`` re-reads recent
ones). Uploads go through :meth:`FileConnector.read` and carry no cursor.

Options: ``format`` (``csv``, ``json``, ``ndjson``; by extension when absent), ``encoding``
(CSV; detected when absent: a UTF-8 BOM, valid UTF-8, else ``fallback_encoding``, default
``gb18030`` — a superset of GBK), ``delimiter`` (sniffed among ``, ; tab |`` when absent),
``has_header`` (true, false or ``auto``: the first row is a header when it contains the key field
or looks like one), ``fieldnames`` (names for a header-less file; ``column_1``… otherwise),
``min_age_seconds`` (skip files modified more recently, still being written). For JSON,
``spec.record_path`` is the dotted path to the array inside a top-level object.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from connectors.errors import ConfigurationError, PayloadError
from connectors.protocols.base import (
    CheckResult,
    Connector,
    Cursor,
    FetchSpec,
    Page,
    Record,
    format_timestamp,
    parse_timestamp,
)

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}
UTF8_BOM = codecs.BOM_UTF8
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _HeadThenRest(io.RawIOBase):
    """A binary stream whose first bytes were already read (for detection), served again in order."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def detect_encoding(head: bytes, fallback: str = "gb18030") -> str:
    """``utf-8-sig`` for a BOM, ``utf-8`` when the sample decodes as UTF-8, else the fallback (GBK family)."""
    if head.startswith(UTF8_BOM):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multi-byte tail is fine
    except UnicodeDecodeError:
        return fallback
    return "utf-8"


def _sample_text(head: bytes, encoding: str) -> str:
    text = head.decode(encoding, errors="ignore")
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[: cut + 1] if cut > 0 else text


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.splitlines()[0] if sample else ""
        counts = {d: first_line.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def detect_header(sample: str, delimiter: str, key_field: str) -> bool:
    """A header when the first row names the key field, else csv.Sniffer's judgement."""
    try:
        first = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
    except csv.Error:
        first = []
    if key_field in [cell.strip() for cell in first]:
        return True
    try:
        return csv.Sniffer().has_header(sample)
    except csv.Error:
        return False


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class FileConnector(Connector):
    protocol = "file"

    @property
    def drop_dir(self) -> Path:
        return Path(self.connection.base_url).expanduser().resolve()

    def fetch(self, spec: FetchSpec, cursor: Cursor | None = None) -> Iterator[Page]:
        number, stored = 0, cursor
        for path, mtime in self.pending_files(spec, cursor):
            with path.open("rb") as stream:
                pages = self.read(stream, spec, name=path.name)
                for page in pages:
                    number += 1
                    page.number = number
                    page.cursor = Cursor(value=mtime, key=path.name) if page.last else stored
                    page.last = False
                    yield page
            stored = Cursor(value=mtime, key=path.name)
        yield Page([], stored, number + 1, None, 0, True)

    def pending_files(self, spec: FetchSpec, cursor: Cursor | None) -> list[tuple[Path, str]]:
        """Files matching the spec and newer than the cursor, oldest first, with their mtime (ISO)."""
        root = self.drop_dir
        if not root.is_dir():
            raise ConfigurationError(f"The drop directory {root} does not exist.")
        pattern = spec.resource
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ConfigurationError("A file pattern must stay inside the drop directory.")
        since = parse_timestamp(cursor.value) if cursor else None
        min_age = float(self.option(spec, "min_age_seconds", 0) or 0)
        now = datetime.now(UTC)
        found = []
        for path in root.glob(pattern):
            if not path.is_file() or path.name.startswith("."):
                continue
            moment = EPOCH + timedelta(microseconds=path.stat().st_mtime_ns // 1000)
            if min_age and now - moment < timedelta(seconds=min_age):
                continue
            found.append((moment, path.name, path))
        found.sort(key=lambda item: (item[0], item[1]))
        pending = []
        for moment, name, path in found:
            if since is not None:
                if spec.lookback_seconds:
                    if moment < since - timedelta(seconds=spec.lookback_seconds):
                        continue
                elif (moment, name) <= (since, str(cursor.key or "")):  # type: ignore[union-attr]
                    continue
            pending.append((path, format_timestamp(moment)))
        return pending

    def read(self, stream: BinaryIO, spec: FetchSpec, *, name: str = "upload") -> Iterator[Page]:
        """Pages of the records of one binary stream (a dropped file or an upload); no cursor."""
        fmt = self.option(spec, "format") or EXTENSIONS.get(Path(name).suffix.lower())
        if fmt not in ("csv", "json", "ndjson"):
            raise ConfigurationError(f"Cannot tell the format of {name!r}: set the format option.")
        head = stream.read(SAMPLE_BYTES)
        whole = io.BufferedReader(_HeadThenRest(head, stream), buffer_size=SAMPLE_BYTES)
        if fmt == "csv":
            records = self._csv_records(head, whole, spec, name)
        elif fmt == "ndjson":
            records = self._ndjson_records(whole, name)
        else:
            records = self._json_records(head, whole, spec, name)
        number = 0
        previous: list[Record] | None = None
        for batch in _batches(records, self.page_size(spec)):
            if previous is not None:
                number += 1
                yield Page(previous, None, number)
            previous = batch
        yield Page(previous or [], None, number + 1, None, 0, True)

    def _csv_records(self, head: bytes, stream: BinaryIO, spec: FetchSpec, name: str) -> Iterator[Record]:
        encoding = self.option(spec, "encoding") or detect_encoding(
            head, self.option(spec, "fallback_encoding", "gb18030")
        )
        sample = _sample_text(head, encoding).lstrip("\ufeff")
        delimiter = self.option(spec, "delimiter") or sniff_delimiter(sample)
        has_header = self.option(spec, "has_header", "auto")
        if has_header == "auto":
            has_header = detect_header(sample, delimiter, spec.key_field)
        text = io.TextIOWrapper(stream, encoding=encoding, newline="")
        reader = csv.reader(text, delimiter=delimiter)
        fieldnames = self.option(spec, "fieldnames")
        try:
            if has_header:
                header = [cell.strip().lstrip("\ufeff") for cell in next(reader, [])]
                fieldnames = fieldnames or header
            for row in reader:
                if not fieldnames:
                    fieldnames = [f"column_{i}" for i in range(1, len(row) + 1)]
                if not row or not any(cell.strip() for cell in row):
                    continue
                record: Record = dict(zip(fieldnames, row, strict=False))
                if len(row) > len(fieldnames):
                    record["_extra"] = row[len(fieldnames) :]
                yield record
        except UnicodeDecodeError as exc:
            raise PayloadError(
                f"{name}: not valid {encoding} near line {reader.line_num + 1}: {exc.reason}",
                raw=exc.object[max(0, exc.start - 40) : exc.end + 40].decode(encoding, "replace"),
            ) from exc
        except csv.Error as exc:
            raise PayloadError(f"{name}: CSV error on line {reader.line_num}: {exc}") from exc

    @staticmethod
    def _ndjson_records(stream: BinaryIO, name: str) -> Iterator[Record]:
        for number, line in enumerate(stream, 1):
            line = line.removeprefix(UTF8_BOM) if number == 1 else line
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                raise PayloadError(
                    f"{name}: malformed JSON on line {number}: {exc}", raw=line.decode("utf-8", "replace")
                ) from exc
            if not isinstance(record, dict):
                raise PayloadError(f"{name}: line {number} is not a JSON object", raw=line.decode("utf-8", "replace"))
            yield record

    @staticmethod
    def _json_records(head: bytes, stream: BinaryIO, spec: FetchSpec, name: str) -> Iterator[Record]:
        start = head.removeprefix(UTF8_BOM).lstrip()[:1]
        if head.startswith(UTF8_BOM):
            stream.read(len(UTF8_BOM))
        if start == b"{" and not spec.record_path:
            raise PayloadError(
                f"{name}: the JSON document is an object; set record_path to its record array",
                raw=head[:2000].decode("utf-8", "replace"),
            )
        prefix = f"{spec.record_path}.item" if spec.record_path else "item"
        try:
            for record in ijson.items(stream, prefix, use_float=True):
                if not isinstance(record, dict):
                    raise PayloadError(f"{name}: an item of {prefix} is not a JSON object", raw=repr(record)[:2000])
                yield record
        except ijson.JSONError as exc:
            raise PayloadError(f"{name}: malformed JSON: {exc}", raw=head[:2000].decode("utf-8", "replace")) from exc

    def check(self, spec: FetchSpec | None = None) -> CheckResult:
        def probe() -> tuple[str, int | None]:
            if spec is None:
                root = self.drop_dir
                if not root.is_dir():
                    raise ConfigurationError(f"The drop directory {root} does not exist.")
                return f"drop directory {root} is readable", None
            pending = self.pending_files(spec, None)
            return f"{len(pending)} file(s) match {spec.resource}", None

        return self.run_check(probe)
