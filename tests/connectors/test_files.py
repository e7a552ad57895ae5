"""Files from a drop directory or an upload: CSV in UTF-8 / BOM / GBK, JSON and NDJSON, streamed."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from connectors.errors import ConfigurationError, PayloadError
from connectors.protocols import Cursor, FetchSpec, get_connector
from connectors.protocols.files import detect_encoding
from tests.connectors.conftest import make_connection

ROWS = [("C1001", "上海华东贸易有限公司", "720"), ("C1002", "Alpha; Trading", "650"), ("C1003", "北京客户", "")]


def drop(tmp_path: Path, **options):
    return get_connector(make_connection("file", str(tmp_path), options=options))


def spec(resource: str, **extra) -> FetchSpec:
    return FetchSpec.from_dict({"resource": resource, "key_field": "id", **extra})


def records(pages) -> list[dict]:
    return [r for p in pages for r in p.records]


def write_csv(path: Path, delimiter: str, encoding: str, header: bool = True) -> Path:
    lines = [delimiter.join(["id", "name", "credit_score"])] if header else []
    lines += [delimiter.join(f'"{v}"' if delimiter in v else v for v in row) for row in ROWS]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.mark.parametrize(
    "encoding, delimiter",
    [("utf-8", ","), ("utf-8-sig", ";"), ("gbk", ";"), ("gbk", ","), ("utf-8", "\t"), ("utf-8-sig", "|")],
)
def test_csv_in_utf8_bom_and_gbk_with_any_common_delimiter(tmp_path, encoding, delimiter):
    write_csv(tmp_path / "customers.csv", delimiter, encoding)
    rows = records(drop(tmp_path).fetch(spec("customers.csv")))
    assert rows == [{"id": i, "name": n, "credit_score": c} for i, n, c in ROWS]


def test_encodings_are_detected_from_the_first_bytes():
    assert detect_encoding("id;name\n1;上海".encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding("id;name\n1;上海".encode()) == "utf-8"
    assert detect_encoding("id;name\n1;上海".encode("gbk")) == "gb18030"
    assert detect_encoding("1;上海".encode()[:-1]) == "utf-8"  # a multi-byte character cut by the sample


def test_a_header_is_recognised_and_a_headerless_file_gets_names(tmp_path):
    write_csv(tmp_path / "plain.csv", ",", "utf-8", header=False)
    rows = records(drop(tmp_path).fetch(spec("plain.csv", key_field="column_1")))
    assert rows[0] == {"column_1": "C1001", "column_2": "上海华东贸易有限公司", "column_3": "720"} and len(rows) == 3
    named_drop = drop(tmp_path, fieldnames=["id", "name", "credit_score"], has_header=False)
    named = records(named_drop.fetch(spec("plain.csv")))
    assert named[1]["name"] == "Alpha; Trading" and len(named) == 3


def test_extra_cells_and_blank_lines_are_kept_apart(tmp_path):
    (tmp_path / "ragged.csv").write_text("id,name\nC1,One,surplus\n\n,\nC2,Two\n", encoding="utf-8")
    rows = records(drop(tmp_path).fetch(spec("ragged.csv")))
    assert rows == [{"id": "C1", "name": "One", "_extra": ["surplus"]}, {"id": "C2", "name": "Two"}]


def test_a_byte_invalid_in_the_detected_encoding_is_a_payload_error(tmp_path):
    body = b"id,name\n" + b"C1,plain\n" * 10_000 + b"C2,\xff\xfe broken\n"
    (tmp_path / "late.csv").write_bytes(body)
    with pytest.raises(PayloadError, match="not valid utf-8"):
        records(drop(tmp_path).fetch(spec("late.csv")))


def test_ndjson_skips_blank_lines_and_reports_a_malformed_line_with_its_text(tmp_path):
    (tmp_path / "ok.ndjson").write_text('{"id": "1"}\n\n{"id": "2", "n": 1.5}\n', encoding="utf-8")
    assert records(drop(tmp_path).fetch(spec("ok.ndjson"))) == [{"id": "1"}, {"id": "2", "n": 1.5}]
    (tmp_path / "bad.jsonl").write_text('{"id": "1"}\n{"id": "2", oops}\n', encoding="utf-8")
    with pytest.raises(PayloadError, match="line 2") as caught:
        records(drop(tmp_path).fetch(spec("bad.jsonl")))
    assert caught.value.raw == '{"id": "2", oops}\n'


def test_json_arrays_at_the_top_or_at_a_record_path(tmp_path):
    (tmp_path / "top.json").write_text(json.dumps([{"id": "1"}, {"id": "2"}]), encoding="utf-8")
    (tmp_path / "nested.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"meta": {"n": 2}, "data": {"customers": [{"id": "3"}, {"id": "4"}]}}).encode()
    )
    assert records(drop(tmp_path).fetch(spec("top.json"))) == [{"id": "1"}, {"id": "2"}]
    nested = records(drop(tmp_path).fetch(spec("nested.json", record_path="data.customers")))
    assert nested == [{"id": "3"}, {"id": "4"}]


def test_a_json_object_without_record_path_or_broken_json_is_a_payload_error(tmp_path):
    (tmp_path / "object.json").write_text('{"data": []}', encoding="utf-8")
    with pytest.raises(PayloadError, match="set record_path"):
        records(drop(tmp_path).fetch(spec("object.json")))
    (tmp_path / "cut.json").write_text('[{"id": "1"}, {"id": ', encoding="utf-8")
    with pytest.raises(PayloadError, match="malformed JSON"):
        records(drop(tmp_path).fetch(spec("cut.json")))


def test_drop_files_are_read_oldest_first_once_each(tmp_path):
    for age, name in ((300, "b.ndjson"), (200, "a.ndjson"), (200, "c.ndjson")):
        (tmp_path / name).write_text(json.dumps({"id": name}) + "\n", encoding="utf-8")
        os.utime(tmp_path / name, (1_700_000_000 - age, 1_700_000_000 - age))
    (tmp_path / "ignored.csv").write_text("id\nx\n", encoding="utf-8")
    connector = drop(tmp_path)
    pages = list(connector.fetch(spec("*.ndjson")))
    assert [r["id"] for r in records(pages)] == ["b.ndjson", "a.ndjson", "c.ndjson"]
    assert pages[-1].cursor == Cursor("2023-11-14T22:10:00Z", "c.ndjson") and pages[-1].last
    assert records(connector.fetch(spec("*.ndjson"), pages[-1].cursor)) == []
    (tmp_path / "d.ndjson").write_text('{"id": "d"}\n', encoding="utf-8")
    assert [r["id"] for r in records(connector.fetch(spec("*.ndjson"), pages[-1].cursor))] == ["d"]


def test_the_cursor_moves_only_after_a_file_is_read_completely(tmp_path):
    (tmp_path / "big.ndjson").write_text("".join(f'{{"id": "{i}"}}\n' for i in range(25)), encoding="utf-8")
    pages = list(drop(tmp_path).fetch(spec("big.ndjson", page_size=10)))
    assert [len(p.records) for p in pages] == [10, 10, 5, 0]
    assert [p.cursor is None for p in pages] == [True, True, False, False]


def test_a_pattern_cannot_leave_the_drop_directory(tmp_path):
    with pytest.raises(ConfigurationError, match="inside the drop directory"):
        list(drop(tmp_path).fetch(spec("../*.csv")))
    with pytest.raises(ConfigurationError, match="does not exist"):
        list(drop(tmp_path / "missing").fetch(spec("*.csv")))
    assert not drop(tmp_path / "missing").check().ok
    assert drop(tmp_path).check().ok


def test_an_upload_is_read_from_its_stream():
    upload = io.BytesIO(("id;name\n" + "C9;上海\n").encode("gbk"))
    pages = list(drop(Path(".")).read(upload, spec("upload"), name="customers.csv"))
    assert records(pages) == [{"id": "C9", "name": "上海"}] and pages[-1].cursor is None


def _peak_while_reading(connector, fetch_spec) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(len(page.records) for page in connector.fetch(fetch_spec))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv"])
def test_large_files_are_streamed_in_bounded_memory(tmp_path, fmt):
    lines = 200_000
    path = tmp_path / f"large.{fmt}"
    with path.open("w", encoding="utf-8") as out:
        if fmt == "csv":
            out.write("id,name,credit_score,last_order_date\n")
        elif fmt == "json":
            out.write("[")
        for i in range(lines):
            if fmt == "csv":
                out.write(f"C{i},Customer number {i} of the group,{i % 900},2024-01-01\n")
            else:
                sep = "," if fmt == "json" and i else ""
                out.write(
                    sep
                    + json.dumps(
                        {
                            "id": f"C{i}",
                            "name": f"Customer number {i} of the group",
                            "credit_score": i % 900,
                            "last_order_date": "2024-01-01",
                        }
                    )
                    + "\n"
                )
        if fmt == "json":
            out.write("]")
    size = path.stat().st_size
    count, peak = _peak_while_reading(drop(tmp_path), spec(path.name, page_size=500))
    assert count == lines
    assert size > 10_000_000 and peak < 4_000_000, f"peak {peak} bytes for a {size}-byte file"
