"""Protocol-true fake source systems served over real HTTP on 127.0.0.1.

Reusable by any test or benchmark: build one with a dataset (``tests.connectors.fakes.data``),
start it (context manager), point a connection at ``fake.base_url``, inject faults with
``fake.fail(...)``, ``fake.malformed(...)``, ``fake.slow(...)`` and read ``fake.requests``.
"""

from tests.connectors.fakes.crm import CrmFake
from tests.connectors.fakes.oauth import OAuthFake
from tests.connectors.fakes.odata import EntitySet, ODataV2Fake, ODataV4Fake
from tests.connectors.fakes.scim import ScimFake
from tests.connectors.fakes.server import AuthPolicy, FakeServer, TokenIssuer

__all__ = [
    "AuthPolicy",
    "CrmFake",
    "EntitySet",
    "FakeServer",
    "OAuthFake",
    "ODataV2Fake",
    "ODataV4Fake",
    "ScimFake",
    "TokenIssuer",
]
