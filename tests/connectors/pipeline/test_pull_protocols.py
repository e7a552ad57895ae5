"""The same pipeline over every protocol: OData v4 and v2 (SAP), SCIM — configuration only."""

from __future__ import annotations

from connectors.models import SyncRunStatus, SyncState
from connectors.services import pipeline
from masterdata.models import Customer, Employee, Material, MaterialType, SourceLink
from tests.connectors.fakes import ScimFake
from tests.connectors.pipeline.conftest import connect, make_source, map_source, sap_source

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_odata_v4_business_partners_become_customers(db, odata_v4):
    source = sap_source(odata_v4, "odata_v4")
    map_source(
        source,
        "customer",
        {"resource": "A_BusinessPartner", "key_field": "BusinessPartner", "cursor_field": "LastChangeDateTime"},
        [
            {"source": "BusinessPartner", "target": "code", "transforms": [{"op": "trim"}]},
            {"source": "BusinessPartnerFullName", "target": "name"},
            {"source": "SearchTerm1", "target": "attributes.search_term"},
            {"target": "country", "constant": "DE"},
        ],
    )

    run = pipeline.pull(source, "customer").run

    assert (run.status, run.fetched, run.created) == (SyncRunStatus.SUCCEEDED, 25, 25)
    partner = Customer.objects.get(code="1000001")
    assert (partner.name, partner.country, partner.attributes) == (
        "Partner 1 Trading GmbH",
        "DE",
        {"search_term": "PARTNER1"},
    )
    assert Customer.objects.get(code="1000000").name == "上海伙伴0有限公司"
    assert SyncState.objects.get(source=source).cursor == {"value": "2024-01-01T08:24:00Z", "key": "1000024"}
    again = pipeline.pull(source, "customer").run
    assert (again.fetched, again.created, again.updated) == (0, 0, 0)
    assert "LastChangeDateTime ge 2024-01-01T08:24:00Z" in odata_v4.requests[-1].arg("$filter")


def test_odata_v2_products_become_materials(db, odata_v2):
    source = sap_source(odata_v2, "odata_v2", domain="material")
    map_source(
        source,
        "material",
        {
            "resource": "A_Product",
            "key_field": "Product",
            "cursor_field": "LastChangeDateTime",
            "expand": ["to_Description"],
        },
        [
            {"source": "Product", "target": "code"},
            {"source": "to_Description.0.ProductDescription", "target": "name"},
            {"source": "ProductType", "target": "material_type",
             "transforms": [{"op": "lookup", "table": {"FERT": "finished", "ROH": "raw"}}]},
            {"source": "BaseUnit", "target": "unit_of_measure",
             "transforms": [{"op": "lookup", "table": {"PC": "EA"}, "default": "KG"}]},
            {"source": "ProductGroup", "target": "category"},
            {"target": "specification", "concat": ["GrossWeight", "WeightUnit"]},
        ],
    )  # fmt: skip

    run = pipeline.pull(source, "material").run

    assert (run.status, run.fetched, run.created, run.failed) == (SyncRunStatus.SUCCEEDED, 25, 25, 0)
    raw, finished = Material.objects.get(code="MAT-000000"), Material.objects.get(code="MAT-000001")
    assert (raw.name, raw.material_type, raw.unit_of_measure, raw.specification) == (
        "Material 0",
        MaterialType.RAW,
        "KG",
        "1.500 KG",
    )
    assert (finished.material_type, finished.unit_of_measure, finished.category) == ("finished", "EA", "L001")
    link = SourceLink.objects.get(source=source, source_key="MAT-000001")
    assert link.last_payload["LastChangeDateTime"] == "2024-01-01T08:01:00Z"  # /Date(…)/ normalised


def test_scim_users_become_employees(db):
    with ScimFake() as scim:
        source = make_source("hr", kind="hr", domain="employee")
        connect(source, "scim", scim.base_url, auth_type="bearer", secret=ScimFake.token, page_size=10)
        map_source(
            source,
            "employee",
            {"resource": "/Users", "key_field": "id", "cursor_field": "meta.lastModified",
             "options": {"sort_by": "meta.lastModified"}},
            [
                {"source": f"{ENTERPRISE}.employeeNumber", "target": "code"},
                {"source": "displayName", "target": "name"},
                {"source": "emails.0.value", "target": "email"},
                {"source": "title", "target": "position"},
                {"source": f"{ENTERPRISE}.department", "target": "attributes.department"},
            ],
        )  # fmt: skip

        run = pipeline.pull(source, "employee").run

    assert (run.status, run.fetched, run.created) == (SyncRunStatus.SUCCEEDED, 30, 30)
    employee = Employee.objects.get(code="E10004")
    assert (employee.name, employee.email, employee.position, employee.attributes) == (
        "Given4 Family4",
        "user4@example.com",
        "Engineer",
        {"department": "销售部"},
    )
    assert (
        SourceLink.objects.get(source=source, golden_id=employee.pk).source_key
        == "2819c223-7f76-453a-919d-000000000004"
    )
