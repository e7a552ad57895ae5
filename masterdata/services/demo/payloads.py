"""The demo records as the source systems hold them: an SAP-style ERP extract, the seed's CRM, SCIM users.

ERP rows carry SAP field names and text values only (what a CSV extract gives); the CRM's
customers are the seed's CRM shape; HR users are SCIM 2.0 with the enterprise extension and the
group's own HR extension (hire and leave dates, national id).
"""

from __future__ import annotations

import re
from typing import Any

from masterdata.models import MaterialType

from .catalog import Company

HR_EXTENSION = "urn:meridian:params:scim:schemas:extension:hr:1.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CRM_UPDATED_AT = "2025-06-30T06:00:00Z"  # the demo's "now" (plan.SEEN_AT)
#: CRM credit score for an ERP credit rating (the CRM keeps its own scale).
CREDIT_SCORES = {"AAA": 820, "AA": 780, "A": 740, "BBB": 690, "BB": 640, "B": 590, "C": 520}
SAP_MATERIAL_TYPES = {
    MaterialType.RAW: "ROH",
    MaterialType.SEMI_FINISHED: "HALB",
    MaterialType.FINISHED: "FERT",
    MaterialType.TRADING: "HAWA",
    MaterialType.SPARE_PART: "ERSA",
    MaterialType.SERVICE: "DIEN",
    MaterialType.PACKAGING: "VERP",
}


def sales_office(company: Company) -> str:
    """The ERP sales office of a company's sales department (VKBUR)."""
    return f"{company.country}01"


def purchasing_org(company: Company) -> str:
    """The ERP purchasing organisation of a company's procurement department (EKORG)."""
    return f"{company.country}10"


def erp_customer_payload(
    code: str, company: Company, owner: str, values: dict[str, Any], deleted: bool
) -> dict[str, Any]:
    """An ERP customer master row as its extract has it: SAP field names, every value text."""
    return {
        "KUNNR": code,
        "BUKRS": company.erp_company_code,
        "VKBUR": sales_office(company) if owner.endswith("-SALES") else "",
        "NAME1": values["name"],
        "LAND1": values["country"],
        "STCD1": values["tax_id"],
        "STRAS": values["address"],
        "TELF1": values["phone"],
        "SMTP_ADDR": values["email"],
        "CTLPC": values["credit_rating"],
        "KLIMK": str(values["credit_limit"]),
        "WAERS": values["currency"],
        "LAST_INVOICE": values["last_transaction_date"].strftime("%Y%m%d"),
        "BRSCH": values["attributes"]["industry"],
        "LOEVM": "X" if deleted else "",
    }


def crm_customer_payload(code: str, values: dict[str, Any]) -> dict[str, Any]:
    """A customer as the seed's CRM API returns it (its id is the customer number)."""
    return {
        "id": code,
        "name": values["name"],
        "credit_score": CREDIT_SCORES[values["credit_rating"]],
        "last_order_date": values["last_transaction_date"].isoformat(),
        "email": values["email"],
        "phone": values["phone"],
        "address": values["address"],
        "updated_at": CRM_UPDATED_AT,
    }


def moved(address: str) -> str:
    """Another house number in the same street: an address one system has updated and the other not.

    The first number of a demo address is its house number (DE, US and CN styles alike).
    """
    number = re.search(r"\d+", address)
    if number is None:
        return f"{address} (new building)"
    return f"{address[: number.start()]}{int(number.group()) + 12}{address[number.end() :]}"
