"""The shared cursor logic and record paths every protocol relies on."""

from __future__ import annotations

import pytest

from connectors.errors import ConfigurationError, UnsupportedOperation
from connectors.protocols import Cursor, CursorTracker, FetchSpec, PushSpec, get_connector
from connectors.protocols.base import dig
from tests.connectors.conftest import make_connection

URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def spec(**extra) -> FetchSpec:
    return FetchSpec(resource="x", key_field="id", cursor_field="changed", **extra)


def test_dig_follows_dots_lists_and_keys_that_contain_dots():
    record = {"a": {"b": [{"c": 1}]}, URN: {"manager": {"value": "m"}}, "x.y": 2}
    assert dig(record, "a.b.0.c") == 1
    assert dig(record, f"{URN}.manager.value") == "m"
    assert dig(record, "x.y") == 2
    assert dig(record, "a.missing", "default") == "default" and dig(record, "a.b.5") is None
    assert dig(record, "") is record


def test_ties_at_the_stored_value_are_dropped_only_up_to_the_stored_key():
    tracker = CursorTracker(spec(), Cursor("2024-01-01T00:00:00Z", "K2"))
    rows = [{"id": k, "changed": "2024-01-01T00:00:00Z"} for k in ("K1", "K2", "K3")]
    rows.append({"id": "K0", "changed": "2024-01-01T00:00:01+00:00"})
    kept, skipped = tracker.filter_page(rows)
    assert [r["id"] for r in kept] == ["K3", "K0"] and skipped == 2
    assert tracker.page_cursor(ordered=True, last=False) == Cursor("2024-01-01T00:00:01Z", "K0")


def test_numeric_keys_compare_as_numbers():
    tracker = CursorTracker(spec(), Cursor("2024-01-01T00:00:00Z", 9))
    kept, _ = tracker.filter_page([{"id": 10, "changed": "2024-01-01T00:00:00Z"}])
    assert kept and tracker.best_cursor == Cursor("2024-01-01T00:00:00Z", 10)


def test_a_number_cursor_such_as_a_row_version():
    tracker = CursorTracker(spec(cursor_type="number"), Cursor(100, "a"))
    rows = [{"id": "a", "changed": 100}, {"id": "b", "changed": "101"}, {"id": "c", "changed": 7}]
    kept, _ = tracker.filter_page(rows)
    assert [r["id"] for r in kept] == ["b"] and tracker.best_cursor == Cursor(101.0, "b")


def test_a_lookback_keeps_everything_inside_the_window():
    tracker = CursorTracker(spec(lookback_seconds=60), Cursor("2024-01-01T00:10:00Z", "Z"))
    rows = [{"id": "A", "changed": "2024-01-01T00:09:30Z"}, {"id": "B", "changed": "2024-01-01T00:08:30Z"}]
    assert [r["id"] for r in tracker.filter_page(rows)[0]] == ["A"]
    assert tracker.best_cursor == Cursor("2024-01-01T00:10:00Z", "Z")  # never moves backwards


def test_values_of_the_wrong_type_neither_drop_the_record_nor_move_the_cursor():
    tracker = CursorTracker(spec(), Cursor("2024-01-01T00:00:00Z"))
    kept, _ = tracker.filter_page([{"id": "A", "changed": 12345}, {"id": "B", "changed": None}])
    assert len(kept) == 2 and tracker.unordered_values == 2
    assert tracker.best_cursor == Cursor("2024-01-01T00:00:00Z")


def test_a_stored_cursor_of_the_wrong_type_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="not a timestamp"):
        CursorTracker(spec(), Cursor("last tuesday"))


def test_cursors_round_trip_through_json():
    cursor = Cursor("2024-01-01T00:00:00Z", 17)
    assert Cursor.from_dict(cursor.to_dict()) == cursor
    assert Cursor.from_dict(None) is None and Cursor.from_dict({"value": None}) is None


def test_a_spec_without_cursor_field_admits_everything_and_has_no_cursor():
    tracker = CursorTracker(FetchSpec(resource="x", key_field="id"), Cursor("2024-01-01T00:00:00Z"))
    assert tracker.filter_page([{"id": 1}]) == ([{"id": 1}], 0)
    assert tracker.page_cursor(ordered=True, last=True) is None


def test_a_file_drop_cannot_be_pushed_to(tmp_path):
    with pytest.raises(UnsupportedOperation, match="file connector cannot push"):
        get_connector(make_connection("file", str(tmp_path))).send(PushSpec(resource="x", key_field="id"), [])
