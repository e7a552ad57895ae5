"""The Connection: one per source system, validated settings, the factory that picks its connector."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from connectors.errors import ConfigurationError
from connectors.models import Connection
from connectors.protocols import (
    FetchSpec,
    get_connector,
)
from connectors.protocols.files import FileConnector
from connectors.protocols.odata import ODataV2Connector, ODataV4Connector
from connectors.protocols.rest import RestConnector
from connectors.protocols.scim import ScimConnector
from tests.factories import SourceSystemFactory


def errors_of(conn: Connection) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        conn.clean()
    return caught.value.message_dict


def test_http_protocols_need_an_http_url():
    assert "base_url" in errors_of(Connection(protocol="odata_v4", base_url="ftp://sap.example.com"))
    assert "base_url" in errors_of(Connection(protocol="scim", base_url="/scim/v2"))


def test_each_auth_type_names_what_it_needs():
    assert set(errors_of(Connection(protocol="rest", base_url="https://x", auth_type="basic"))) == {
        "username",
        "secret",
    }
    assert set(errors_of(Connection(protocol="rest", base_url="https://x", auth_type="bearer"))) == {"secret"}
    oauth = Connection(protocol="rest", base_url="https://x", auth_type="oauth2_client_credentials")
    assert set(errors_of(oauth)) == {"token_url", "client_id", "client_secret"}


def test_files_need_a_drop_directory_and_no_auth():
    assert set(errors_of(Connection(protocol="file", base_url="", auth_type="bearer", secret="x"))) == {
        "base_url",
        "auth_type",
    }


def test_a_complete_connection_is_valid():
    Connection(
        protocol="odata_v2",
        base_url="https://s4.example.com/sap/opu/odata/sap/API_PRODUCT_SRV",
        auth_type="oauth2_client_credentials",
        token_url="https://idp.example.com/oauth/token",
        client_id="mdm",
        client_secret="${ENV:S4_CLIENT_SECRET}",
    ).clean()


@pytest.mark.django_db
def test_one_connection_per_source_system():
    source = SourceSystemFactory(code="crm")
    conn = Connection.objects.create(source=source, protocol="rest", base_url="https://crm.example.com")
    assert str(conn) == "crm (REST/JSON)"
    assert source.connection == conn
    with pytest.raises(IntegrityError):
        Connection.objects.create(source=source, protocol="scim", base_url="https://idp.example.com")


@pytest.mark.django_db
@pytest.mark.parametrize("field, value", [("protocol", "ftp"), ("auth_type", "kerberos"), ("page_size", 0)])
def test_the_database_refuses_impossible_settings(field, value):
    with pytest.raises(IntegrityError):
        Connection.objects.create(
            source=SourceSystemFactory(), **{"protocol": "rest", "base_url": "https://x", field: value}
        )


@pytest.mark.parametrize(
    "protocol, cls",
    [
        ("odata_v4", ODataV4Connector),
        ("odata_v2", ODataV2Connector),
        ("rest", RestConnector),
        ("scim", ScimConnector),
        ("file", FileConnector),
    ],
)
def test_the_factory_picks_the_connector_of_the_protocol(protocol, cls):
    connector = get_connector(Connection(protocol=protocol, base_url="https://x"))
    assert type(connector) is cls and connector.protocol == protocol


def test_an_unknown_protocol_has_no_connector():
    with pytest.raises(ConfigurationError, match="ftp"):
        get_connector(Connection(protocol="ftp", base_url="https://x"))


def test_fetch_specs_come_from_configuration_and_reject_unknown_keys():
    spec = FetchSpec.from_dict({"resource": "A_Product", "key_field": "Product", "select": "Product, BaseUnit"})
    assert spec.select == ("Product", "BaseUnit")
    assert FetchSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ConfigurationError, match="colour"):
        FetchSpec.from_dict({"resource": "x", "key_field": "id", "colour": "red"})
    with pytest.raises(ConfigurationError):
        FetchSpec(resource="x", key_field="")
