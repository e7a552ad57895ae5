"""The demo sources' records as the files those systems would drop: ERP extracts, a CRM export, HR feeds.

Why files: the demo cannot reach a real ERP, CRM or HR system, but the hub's file connector is
real, so the demo data goes the way production data does — read ▸ map ▸ validate ▸ match ▸
survivorship — instead of being written past the pipeline. The files are what such systems
really produce: ERP extracts as semicolon CSV (one in UTF-8 with a byte-order mark as Excel
saves it, one in GB18030, the GBK family Chinese Windows uses), the CRM's API page as JSON, the
HR system's SCIM users and org units as NDJSON.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import DemoPlan


@dataclass(frozen=True)
class Drop:
    source: str
    domain: str
    name: str
    render: Callable[[list[dict[str, Any]]], bytes]


def csv_bytes(encoding: str) -> Callable[[list[dict[str, Any]]], bytes]:
    def render(rows: list[dict[str, Any]]) -> bytes:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode(encoding)

    return render


def json_page(rows: list[dict[str, Any]]) -> bytes:
    """One page of the CRM's ``GET /api/customers``, as exported."""
    return json.dumps({"data": rows, "total": len(rows)}, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


DROPS = (
    Drop("erp", "customer", "customers.csv", csv_bytes("utf-8-sig")),
    Drop("erp", "supplier", "suppliers.csv", csv_bytes("utf-8-sig")),
    Drop("erp", "material", "materials.csv", csv_bytes("gb18030")),
    Drop("crm", "customer", "customers.json", json_page),
    Drop("hr", "employee", "users.ndjson", ndjson),
    Drop("hr", "org_unit", "org-units.ndjson", ndjson),
)


def render(plan: DemoPlan) -> dict[Drop, bytes]:
    """Every drop file's content (deterministic: the same plan gives the same bytes)."""
    return {drop: drop.render(plan.source_records(drop.source, drop.domain)) for drop in DROPS}


def write(plan: DemoPlan, directory: Path) -> list[Drop]:
    """Write the files under ``directory/<source>/``; only files whose content differs are (re)written.

    A file is replaced whole (written aside, then renamed) so a pull never reads half of it.
    Returns the drops written: those a pull has something new to read in.
    """
    written = []
    for drop, content in render(plan).items():
        path = directory / drop.source / drop.name
        if path.exists() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(content)
        partial.replace(path)
        written.append(drop)
    return written
