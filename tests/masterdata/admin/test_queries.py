"""No N+1 on list pages: a changelist costs the same number of queries for N rows and for 3N rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from masterdata.models import SourceDomain, SourceLink, SourceSystem, SyncDirection
from masterdata.registry import registry

from .conftest import admin_url, browser, build_record, domain_params

N = 3


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(queries)


def rows_shown(client, url: str) -> int:
    return len(client.get(url).context["cl"].result_list)


@pytest.mark.parametrize("domain_name", domain_params())
@pytest.mark.parametrize("viewer", ["superuser", "steward_a"])
def test_domain_changelist_queries_do_not_grow_with_rows(request, org, viewer, domain_name):
    domain = registry.get(domain_name)
    client = browser(request.getfixturevalue(viewer))
    url = admin_url(domain.model_class, "changelist")
    for n in range(N):
        build_record(domain, org.a, n)
    shown_small = rows_shown(client, url)
    small = count_queries(client, url)

    for n in range(N, 3 * N):
        build_record(domain, org.a, n)

    assert rows_shown(client, url) > shown_small >= N
    assert count_queries(client, url) == small


def make_sources(first: int, count: int) -> None:
    """Source systems, each taking part in two domains, and one link per domain to a real record."""
    for n in range(first, first + count):
        source = SourceSystem.objects.create(code=f"src{n}", name=f"Source {n}")
        for domain_name in ("customer", "employee"):
            SourceDomain.objects.create(source=source, domain=domain_name, direction=SyncDirection.BOTH)


def make_links(org, first: int, count: int) -> None:
    source = SourceSystem.objects.get_or_create(code="erp", defaults={"name": "ERP"})[0]
    for n in range(first, first + count):
        for domain in registry:
            record = build_record(domain, org.a, n)
            SourceLink.objects.create(
                source=source, domain=domain.name, source_key=f"{domain.name}-{n}", golden_id=record.pk
            )


@pytest.mark.parametrize("viewer", ["superuser", "integrator"])
def test_source_system_changelist_queries_do_not_grow_with_rows(request, viewer):
    client = browser(request.getfixturevalue(viewer))
    url = admin_url(SourceSystem, "changelist")
    make_sources(0, N)
    small = count_queries(client, url)

    make_sources(N, 2 * N)

    assert rows_shown(client, url) == 3 * N
    assert count_queries(client, url) == small


@pytest.mark.parametrize("viewer", ["superuser", "integrator"])
def test_source_link_changelist_queries_do_not_grow_with_rows(request, org, viewer):
    client = browser(request.getfixturevalue(viewer))
    url = admin_url(SourceLink, "changelist")
    make_links(org, 0, N)
    small = count_queries(client, url)

    make_links(org, N, 2 * N)

    assert rows_shown(client, url) == 3 * N * len(registry)
    assert count_queries(client, url) == small
