"""The demo group as plain data: every golden record, its references and its records in the sources.

Pure and deterministic: the same seed gives the same plan, byte for byte, on every machine
(dates are fixed, randomness comes from one seeded generator). ``values`` are what the golden
record should end up holding; each :class:`LinkPlan` is the record as its source system holds
it — an SAP-style ERP extract (text columns), the seed's CRM JSON, SCIM users of the HR suite.
``rejects`` are a few records the sources hold wrongly, for the failure queue. The org tree is
written by :mod:`masterdata.services.demo.writer`; the source records are written out as files
(:mod:`masterdata.services.demo.drops`) and pulled through the pipeline.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils.text import slugify
from faker import Faker

from masterdata.models import OrgUnitType

from . import catalog
from .catalog import COMPANIES, Company
from .payloads import (
    ENTERPRISE,
    HR_EXTENSION,
    SAP_MATERIAL_TYPES,
    crm_customer_payload,
    erp_customer_payload,
    moved,
    purchasing_org,
)

DEFAULT_SEED = 20250630
#: In every company the ERP holds one domestic customer a second time, as the company's customer
#: at this position: typed in again without its legal form and tax number, for the duplicate scan.
TWIN_AT = 14
LEGAL_FORMS = {"DE": " GmbH", "CN": "有限公司", "US": " Inc."}
TODAY = date(2025, 6, 30)  # the demo's "now": fixed so that a rerun months later changes nothing
SEEN_AT = datetime.fromisoformat("2025-06-30T06:00:00+00:00")


@dataclass(frozen=True)
class LinkPlan:
    source: str  # source system code
    key: str
    payload: dict[str, Any]


@dataclass
class RecordPlan:
    domain: str
    code: str
    values: dict[str, Any]
    source: str  # system of record: the history names it as the change's source
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # FK field -> (domain, code)
    links: list[LinkPlan] = field(default_factory=list)


@dataclass(frozen=True)
class Reject:
    """A record a source holds wrongly, and why the hub will refuse it."""

    source: str
    domain: str
    payload: dict[str, Any]
    position: int  # where it sits among the source's records of the domain
    why: str


@dataclass
class DemoPlan:
    records: dict[str, list[RecordPlan]]  # domain -> records, in writing order
    rejects: list[Reject] = field(default_factory=list)

    def count(self, domain: str) -> int:
        return len(self.records[domain])

    def source_records(self, source: str, domain: str) -> list[dict[str, Any]]:
        """What ``source`` holds for ``domain``, in its order, the rejects among them."""
        payloads = [link.payload for r in self.records[domain] for link in r.links if link.source == source]
        for reject in self.rejects:
            if (reject.source, reject.domain) == (source, domain):
                payloads.insert(reject.position, reject.payload)
        return payloads


def hr_key(employee_code: str) -> str:
    return f"W{employee_code}"


def org_hr_key(index: int) -> str:
    return f"ORG-{index:04d}"


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        self._seed = seed
        self.names: set[str] = set()
        self.emails: set[str] = set()
        self.heads: dict[str, str] = {}  # org unit code -> code of the employee who leads it

    # --- helpers ---------------------------------------------------------------------------
    def faker(self, country: str) -> Faker:
        locale = catalog.COUNTRIES[country][0]
        if locale not in self._fakers:
            fake = Faker(locale)
            fake.seed_instance(f"{self._seed}-{locale}")
            self._fakers[locale] = fake
        return self._fakers[locale]

    def weighted(self, options: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
        return self.rng.choices(options, weights=[o[1] for o in options])[0]

    def country_for(self, company: Company, export: tuple[str, ...]) -> str:
        return company.country if self.rng.random() < catalog.HOME_SHARE else self.rng.choice(export)

    def phone(self, country: str, area: str | None = None) -> str:
        prefix = catalog.COUNTRIES[country][2]
        if prefix == "1":
            return f"+1 {area or self.rng.randint(201, 989)} 555-{self.rng.randint(100, 199):04d}"
        area = area or str(self.rng.randint(20, 899))
        return f"+{prefix} {area} {self.rng.randint(1000000, 99999999)}"

    def unique(self, make) -> str:
        for _ in range(50):
            value = make()
            if value not in self.names:
                self.names.add(value)
                return value
        raise RuntimeError("demo vocabulary exhausted")

    def unique_email(self, local: str, domain: str) -> str:
        candidate, n = f"{local}@{domain}", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def tax_id(self, country: str) -> str:
        digits = "".join(self.rng.choice(string.digits) for _ in range(9))
        if country == "DE":
            return f"DE{german_vat_body(digits[:8])}"
        if country in ("US", "CA"):
            return f"{digits[:2]}-{digits[2:]}{self.rng.randint(0, 9)}"
        return f"{country}{digits}"

    # --- firms -------------------------------------------------------------------------------
    def firm(self, company: Company, export: tuple[str, ...], lines_cn, lines_west) -> dict[str, Any]:
        """Name, country and contact data of a customer or supplier firm."""
        country = self.country_for(company, export)
        if country == "CN":
            city = self.rng.choice(catalog.CN_CITIES)
            while True:
                brand, line = self.rng.choice(catalog.CN_BRANDS), self.rng.choice(lines_cn)
                if f"{city[0]}{brand[0]}{line[0]}有限公司" not in self.names:
                    return self.cn_firm(city, brand, line)
        fake = self.faker(country)
        if country in ("DE", "US"):
            line, legal = self.rng.choice(lines_west["de" if country == "DE" else "en"])
            name = self.unique(lambda: f"{fake.last_name()} {line} {legal}".strip())
            brand = name.removesuffix(legal)
            city, zip_prefix, area = self.rng.choice(catalog.CITIES[country])
            zip_code = f"{zip_prefix}{self.rng.randint(0, 999):03d}"[:5]
            street = fake.street_address()
            address = f"{street}, {zip_code} {city}" if country == "DE" else f"{street}, {city} {zip_code}"
        else:
            name = brand = self.unique(fake.company)
            address = f"{fake.street_address()}, {fake.postcode()} {fake.city()}".replace("\n", ", ")
            area = None
        return {
            "name": name,
            "country": country,
            "address": address,
            "phone": self.phone(country, area),
            "domain": f"{slugify(brand)[:40].strip('-') or 'firm'}.example",
            "tax_id": self.tax_id(country),
        }

    def cn_firm(self, city: tuple, brand: tuple[str, str], line: tuple[str, str]) -> dict[str, Any]:
        """A Chinese firm named the Chinese way: city + brand + line of business + 有限公司."""
        short, province, districts, area, _ = city
        name = f"{short}{brand[0]}{line[0]}有限公司"
        self.names.add(name)
        road = self.rng.choice(catalog.CN_ROADS)
        address = f"{province}{self.rng.choice(districts)}{road} {self.rng.randint(1, 1999)} 号"
        return {
            "name": name,
            "country": "CN",
            "address": address,
            "phone": self.phone("CN", area),
            "domain": f"{brand[1]}-{line[1]}.example",
            "tax_id": uscc(city[4], self.rng),
        }

    # --- org units ----------------------------------------------------------------------------
    def org_units(self) -> list[RecordPlan]:
        records = []

        def add(code: str, name: str, unit_type: str, parent: str | None, valid_from: date):
            index = len(records) + 1
            refs = {"parent": ("org_unit", parent)} if parent else {}
            hr_payload = {
                "id": org_hr_key(index),
                "code": code,
                "name": name,
                "type": unit_type,
                "parentId": org_hr_key(parent_index[parent]) if parent else None,
                "parentCode": parent,
                "effectiveDate": valid_from.isoformat(),
                "managerId": None,
            }
            links = [LinkPlan("hr", org_hr_key(index), hr_payload)]
            values = {"name": name, "unit_type": unit_type, "valid_from": valid_from}
            records.append(RecordPlan("org_unit", code, values, "hr", refs, links))
            parent_index[code] = index

        parent_index: dict[str, int] = {}
        add(catalog.GROUP_CODE, catalog.GROUP_NAME, OrgUnitType.GROUP, None, date(2004, 1, 1))
        for company in COMPANIES:
            founded = date(2004 + self.rng.randint(0, 8), 1, 1)
            add(company.code, company.name, OrgUnitType.COMPANY, catalog.GROUP_CODE, founded)
            for key, names in catalog.DEPARTMENTS.items():
                dept = f"{company.code}-{key}"
                add(dept, names[company.lang], OrgUnitType.DEPARTMENT, company.code, founded)
                if key in catalog.COST_CENTRES:
                    number, cc_names = catalog.COST_CENTRES[key]
                    name = f"{number} {cc_names[company.lang]}"
                    add(f"{dept}-CC{number}", name, OrgUnitType.COST_CENTRE, dept, founded)
        return records

    # --- employees ----------------------------------------------------------------------------
    def person(self, company: Company) -> tuple[str, str]:
        """(display name, e-mail local part)."""
        if company.lang == "zh":
            surname, given = self.rng.choice(catalog.CN_SURNAMES), self.rng.choice(catalog.CN_GIVEN_NAMES)
            return f"{surname[0]}{given[0]}", f"{given[1]}.{surname[1]}"
        fake = self.faker(company.country)
        first, last = fake.first_name(), fake.last_name()
        return f"{first} {last}", f"{slugify(first)}.{slugify(last)}"

    def national_id(self, company: Company, birth: date) -> str:
        if company.country == "CN":
            body = f"{self.rng.choice(catalog.CN_CITIES)[4]}{birth:%Y%m%d}{self.rng.randint(0, 999):03d}"
            return body + cn_id_check(body)
        if company.country == "DE":
            return f"{self.rng.randint(1, 9)}{self.rng.randint(0, 10**10 - 1):010d}"  # tax identification number
        return f"{self.rng.randint(100, 665)}-{self.rng.randint(10, 99)}-{self.rng.randint(1000, 9999)}"

    def employees(self, org_codes: set[str]) -> list[RecordPlan]:
        records: list[RecordPlan] = []
        for company in COMPANIES:
            seq = iter(range(company.employee_base + 1, company.employee_base + 10_000))
            head = self.employee(company, next(seq), catalog.TITLES["HEAD"][company.lang], company.code, None)
            records.append(head)
            self.heads[company.code] = head.code
            staff = company.employees - 1 - len(catalog.DEPARTMENTS)
            for key, share in catalog.STAFF_SHARE.items():
                dept = f"{company.code}-{key}"
                titles = catalog.TITLES[key][company.lang]
                lead = self.employee(company, next(seq), titles[0], dept, head.code)
                records.append(lead)
                self.heads[dept] = lead.code
                cc = [c for c in org_codes if c.startswith(f"{dept}-CC")]
                for _ in range(round(staff * share)):
                    unit = self.rng.choice([dept, *cc])
                    records.append(self.employee(company, next(seq), self.rng.choice(titles[1:]), unit, lead.code))
        return records

    def employee(self, company: Company, number: int, title: str, unit: str, manager: str | None) -> RecordPlan:
        code = str(number)
        name, local = self.person(company)
        email = self.unique_email(local, catalog.EMAIL_DOMAIN)
        birth = TODAY - timedelta(days=self.rng.randint(22 * 365, 62 * 365))
        hire = max(TODAY - timedelta(days=self.rng.randint(30, 20 * 365)), birth + timedelta(days=20 * 365))
        leave = TODAY - timedelta(days=self.rng.randint(10, 300)) if self.rng.random() < 0.05 and manager else None
        if leave is not None and leave < hire:
            leave = None
        values = {
            "name": name,
            "email": email,
            "position": title,
            "hire_date": hire,
            "leave_date": leave,
            "national_id": self.national_id(company, birth),
        }
        refs = {"org_unit": ("org_unit", unit)}
        if manager:
            refs["manager"] = ("employee", manager)
        payload = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, HR_EXTENSION],
            "id": hr_key(code),
            "userName": email,
            "displayName": name,
            "title": title,
            "active": leave is None,
            "emails": [{"value": email, "type": "work", "primary": True}],
            ENTERPRISE: {
                "employeeNumber": code,
                "organization": company.name,
                "department": unit,
                "manager": {"value": hr_key(manager)} if manager else None,
            },
            HR_EXTENSION: {
                "hireDate": hire.isoformat(),
                "terminationDate": leave.isoformat() if leave else None,
                "nationalId": values["national_id"],
            },
        }
        return RecordPlan("employee", code, values, "hr", refs, [LinkPlan("hr", hr_key(code), payload)])

    # --- customers and suppliers -----------------------------------------------------------
    def customers(self) -> list[RecordPlan]:
        records = []
        for company in COMPANIES:
            for i in range(company.customers):
                n = len(records) + 1
                if company.country == "CN" and i == 0:  # the name everybody in the group knows
                    firm = self.cn_firm(catalog.CN_CITIES[0], ("华东", "huadong"), ("贸易", "trading"))
                else:
                    lines = (catalog.CN_CUSTOMER_LINES, catalog.CUSTOMER_LINES)
                    firm = self.firm(company, company.customer_export, *lines)
                rating, _, typical = self.weighted(catalog.CREDIT_RATINGS)
                limit = Decimal(round(typical * self.rng.uniform(0.5, 1.5), -3))
                last_sale = TODAY - timedelta(days=self.rng.randint(0, 540))
                inactive = self.rng.random() < 0.04
                country = firm["country"]
                values = {
                    "name": firm["name"],
                    "tax_id": firm["tax_id"],
                    "credit_rating": rating,
                    "credit_limit": limit,
                    "currency": catalog.COUNTRIES[country][1],
                    "country": country,
                    "address": firm["address"],
                    "phone": firm["phone"],
                    "email": self.unique_email("purchasing", firm["domain"]),
                    "last_transaction_date": last_sale - timedelta(days=400) if inactive else last_sale,
                    "attributes": {"industry": self.rng.choice(catalog.CUSTOMER_INDUSTRIES)},
                }
                owner = f"{company.code}-SALES" if self.rng.random() < 0.8 else company.code
                if i == TWIN_AT:  # a firm typed in again (values drawn all the same: the seed stays stable)
                    earlier = records[len(records) - i + 1 :]  # this company's customers but the first
                    original = next(r for r in earlier if r.values["country"] == company.country)
                    values.update(typed_again(original.values))
                code = f"CUS-{n:06d}"  # the ERP numbers customers externally: its number is the hub's code
                links = [LinkPlan("erp", code, erp_customer_payload(code, company, owner, values, inactive))]
                if self.rng.random() < 0.6:
                    crm = crm_customer_payload(code, values)
                    if self.rng.random() < 0.08:  # the CRM heard of a newer switchboard number first
                        crm["phone"] = self.phone(country)
                    if n % 29 == 0:  # the sales rep typed the new address; the ERP still has the old one
                        crm["address"] = moved(values["address"])
                    links.append(LinkPlan("crm", code, crm))
                refs = {"owner_org": ("org_unit", owner)}
                records.append(RecordPlan("customer", code, values, "erp", refs, links))
        return records

    def suppliers(self) -> list[RecordPlan]:
        records = []
        for company in COMPANIES:
            for _ in range(company.suppliers):
                n = len(records) + 1
                firm = self.firm(company, company.supplier_export, catalog.CN_SUPPLIER_LINES, catalog.SUPPLIER_LINES)
                country = firm["country"]
                if country in ("DE", "AT", "FR", "ES", "NL", "PL", "CZ", "GB"):
                    bank = self.faker(country).iban()
                else:
                    bank = "".join(self.rng.choice(string.digits) for _ in range(self.rng.choice((12, 16, 19))))
                values = {
                    "name": firm["name"],
                    "tax_id": firm["tax_id"],
                    "country": country,
                    "address": firm["address"],
                    "contact_email": self.unique_email("sales", firm["domain"]),
                    "contact_phone": firm["phone"],
                    "bank_account": bank,
                    "payment_terms": self.weighted(catalog.PAYMENT_TERMS)[0],
                }
                blocked = self.rng.random() < 0.03
                owner = f"{company.code}-PROC" if self.rng.random() < 0.85 else company.code
                code = f"SUP-{n:06d}"
                payload = {
                    "LIFNR": code,
                    "BUKRS": company.erp_company_code,
                    "EKORG": purchasing_org(company) if owner.endswith("-PROC") else "",
                    "NAME1": values["name"],
                    "LAND1": country,
                    "STCD1": values["tax_id"],
                    "STRAS": values["address"],
                    "TELF1": values["contact_phone"],
                    "SMTP_ADDR": values["contact_email"],
                    "IBAN": values["bank_account"],
                    "ZTERM": values["payment_terms"],
                    "SPERR": "X" if blocked else "",
                }
                refs = {"owner_org": ("org_unit", owner)}
                records.append(RecordPlan("supplier", code, values, "erp", refs, [LinkPlan("erp", code, payload)]))
        return records

    # --- materials ----------------------------------------------------------------------------
    def materials(self) -> list[RecordPlan]:
        records = []
        for material_type, prefix, count, templates in catalog.MATERIAL_GROUPS:
            seen: set[tuple[str, str]] = set()
            for _ in range(count * 50):
                if len(seen) == count:
                    break
                name, spec_pattern, unit, category, hs_code, weight = self.rng.choice(templates)
                parameters = self.spec_parameters()
                name, spec = name.format(**parameters), spec_pattern.format(**parameters)
                if (name, spec) in seen:
                    continue
                seen.add((name, spec))
                code = f"{prefix}-{100000 + len(seen)}"
                attributes = {"hs_code": hs_code} if hs_code else {}
                if weight:
                    attributes["gross_weight_kg"] = round(self.rng.uniform(*weight), 2)
                values = {
                    "name": name,
                    "specification": spec,
                    "unit_of_measure": unit,
                    "category": category,
                    "material_type": material_type,
                    "attributes": attributes,
                }
                deleted = self.rng.random() < 0.03
                payload = {
                    "MATNR": code,
                    "MTART": SAP_MATERIAL_TYPES[material_type],
                    "MAKTX": name,
                    "MEINS": unit,
                    "MATKL": category,
                    "GROES": spec,
                    "STAWN": hs_code or "",
                    "BRGEW": str(attributes.get("gross_weight_kg", "")),
                    "LVORM": "X" if deleted else "",
                }
                records.append(RecordPlan("material", code, values, "erp", {}, [LinkPlan("erp", code, payload)]))
            if len(seen) < count:
                raise RuntimeError(f"the {material_type} templates cannot make {count} distinct materials")
        return records

    def spec_parameters(self) -> dict[str, Any]:
        rng = self.rng
        return {
            "t": rng.choice(("0.5", "0.8", "1.0", "1.5", "2.0", "3.0", "5.0")),
            "p": rng.choice((20, 25, 30, 40, 45, 50, 60, 80)),
            "d": rng.choice(("0.8", "1.0", "1.5", "2.5")),
            "n": rng.randint(100, 999),
            "r": rng.choice("ABC"),
            "l": rng.choice((300, 400, 600, 800, 1000, 1250)),
            "l2": rng.choice((20, 30, 40, 50, 60, 80)),
            "kw": rng.choice(("0.37", "0.75", "1.5", "2.2", "4.0", "7.5", "11")),
            "i": rng.choice((5, 10, 16, 20, 31.5, 40)),
            "s": rng.choice((7, 8, 9, 10, 11)),
            "c": rng.choice(("white", "yellow", "blue", "red")),
            "v": rng.choice((32, 46, 68, 100, 220)),
            "nn": f"{rng.randint(0, 12):02d}",
            "w": rng.choice((2, 3, 5)),
            "m": rng.choice((6, 8, 10, 12, 16)),
        }


def rejects(records: dict[str, list[RecordPlan]]) -> list[Reject]:
    """A handful of records the sources hold wrongly: each fails in the pipeline, for a steward to act on."""
    customer = next(r for r in records["customer"] if len(r.links) == 1)  # one the CRM does not know yet
    erp_row = records["customer"][1].links[0].payload
    material = records["material"][0].links[0].payload
    user = records["employee"][-1].links[0].payload
    return [
        Reject("erp", "customer", {**erp_row, "KUNNR": "CUS-900001", "KLIMK": typo_o(erp_row["KLIMK"])}, 7,
               "credit limit typed with the letter O"),
        Reject("erp", "customer", {**erp_row, "KUNNR": "CUS-900002", "LAND1": "Deutschland"}, 40,
               "country written out instead of its ISO code"),
        Reject("erp", "customer", {**erp_row, "KUNNR": "", "NAME1": "Neukunde ohne Nummer"}, 90,
               "a row without a customer number"),
        Reject("erp", "material", {**material, "MATNR": "RM-999001", "MTART": "ZROH"}, 12,
               "a material type the mapping does not know"),
        Reject("hr", "employee", _person(user, "99999001", {HR_EXTENSION: {"hireDate": "31.02.2019"}}), 20,
               "a hire date that is no date"),
        Reject("hr", "employee", _person(user, "99999002", {ENTERPRISE: {"department": "MER-XX-OPS"}}), 60,
               "a department that is no org unit"),
        Reject("crm", "customer", {**crm_customer_payload(customer.code, customer.values), "email": "einkauf(at)firma"},
               25, "an e-mail address that is none"),
    ]  # fmt: skip


def typo_o(number: str) -> str:
    """A number typed with the letter O for its first zero: what a steward corrects back (``12O000.00``)."""
    return number.replace("0", "O", 1)


def typed_again(original: dict[str, Any]) -> dict[str, Any]:
    """A customer's values as a clerk types the firm in again: same address and phone, legal form
    dropped (or added where it had none), no tax number, the firm's general e-mail address."""
    name = original["name"]
    country = original["country"]
    for form in (*LEGAL_FORMS.values(), "有限会社", " AG", " Co., Ltd.", " Ltd.", " LLC", " Corp.", " Co.", " mbH"):
        if name.endswith(form) and len(name) > len(form):
            name = name[: -len(form)].rstrip(" ,")
            break
    else:
        name += LEGAL_FORMS.get(country, " Ltd.")
    domain = original["email"].partition("@")[2]
    return {"name": name, "address": original["address"], "country": country, "phone": original["phone"],
            "email": f"info@{domain}", "currency": original["currency"], "tax_id": ""}  # fmt: skip


def _person(template: dict[str, Any], number: str, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    user = {**template, "id": hr_key(number), "userName": f"{number}@{catalog.EMAIL_DOMAIN}", "emails": []}
    user[ENTERPRISE] = {**template[ENTERPRISE], "employeeNumber": number, "manager": None}
    user[HR_EXTENSION] = dict(template[HR_EXTENSION])
    for extension, values in changes.items():
        user[extension] = {**user[extension], **values}
    return user


# --- identifiers with real check digits ------------------------------------------------------
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(region: str, rng: random.Random) -> str:
    """A Chinese unified social credit code (GB 32100-2015) with a valid check character."""
    body = "91" + region + "".join(rng.choice(_USCC_CHARS[:10] + "ABCDEFGH") for _ in range(9))
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def german_vat_body(eight_digits: str) -> str:
    """Eight digits plus the ISO 7064 MOD 11,10 check digit of a German VAT number."""
    product = 10
    for ch in eight_digits:
        total = (int(ch) + product) % 10 or 10
        product = (2 * total) % 11
    return eight_digits + str((11 - product) % 10)


def cn_id_check(body: str) -> str:
    """Check character of an 18-character Chinese resident identity number (GB 11643)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def build(seed: int = DEFAULT_SEED) -> DemoPlan:
    """The whole demo group for ``seed``."""
    builder = _Builder(seed)
    org_units = builder.org_units()
    org_codes = {r.code for r in org_units}
    employees = builder.employees(org_codes)
    for unit in org_units:  # managers come with the HR system's org units, once the employees exist
        manager = builder.heads.get(unit.code)
        if manager:
            unit.links[0].payload["managerId"] = hr_key(manager)
    records = {
        "org_unit": org_units,
        "employee": employees,
        "customer": builder.customers(),
        "supplier": builder.suppliers(),
        "material": builder.materials(),
    }
    return DemoPlan(records=records, rejects=rejects(records))
