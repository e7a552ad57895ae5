"""Curated vocabulary of the demo group: its companies, departments, countries and catalogue.

Faker supplies people's and foreign firms' names; what Faker gets wrong for a believable
group (Chinese company names with matching web domains, addresses that exist, a material
catalogue, job titles per department) is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from masterdata.models import MaterialType


@dataclass(frozen=True)
class Company:
    code: str
    name: str
    country: str
    lang: str  # "de", "zh" or "en": language of department names and job titles
    erp_company_code: str
    employee_base: int  # personnel numbers of the company start above this
    customers: int
    suppliers: int
    employees: int
    customer_export: tuple[str, ...]  # countries of foreign customers
    supplier_export: tuple[str, ...]


GROUP_CODE = "MER"
GROUP_NAME = "Meridian Holding Group"
EMAIL_DOMAIN = "meridian-group.example"

COMPANIES = (
    Company(
        "MER-DE",
        "Meridian Antriebstechnik GmbH",
        "DE",
        "de",
        "1000",
        10_000_000,
        100,
        55,
        75,
        ("AT", "FR", "NL", "PL", "ES", "GB"),
        ("CZ", "PL", "AT", "ES"),
    ),
    Company(
        "MER-CN",
        "美瑞（上海）工业有限公司",
        "CN",
        "zh",
        "2000",
        20_000_000,
        130,
        60,
        85,
        ("JP", "KR", "VN", "TH"),
        ("VN", "TH", "JP"),
    ),
    Company(
        "MER-US",
        "Meridian Industrial Services Inc.",
        "US",
        "en",
        "3000",
        30_000_000,
        70,
        35,
        40,
        ("CA", "MX"),
        ("MX", "CA"),
    ),
)
HOME_SHARE = 0.82  # of a company's partners are in its own country

# Department key -> names by language, and the cost centres some of them carry.
DEPARTMENTS = {
    "SALES": {"en": "Sales", "de": "Vertrieb", "zh": "销售部"},
    "PROC": {"en": "Procurement", "de": "Einkauf", "zh": "采购部"},
    "OPS": {"en": "Operations", "de": "Produktion", "zh": "生产部"},
    "FIN": {"en": "Finance", "de": "Finanzen und Controlling", "zh": "财务部"},
    "HR": {"en": "Human Resources", "de": "Personal", "zh": "人力资源部"},
    "IT": {"en": "IT", "de": "IT", "zh": "信息技术部"},
}
COST_CENTRES = {
    "SALES": ("4100", {"en": "Domestic sales", "de": "Vertrieb Inland", "zh": "国内销售"}),
    "OPS": ("6200", {"en": "Assembly", "de": "Montage", "zh": "装配车间"}),
}
# Share of a company's staff per department (the rest of the arithmetic is in the plan).
STAFF_SHARE = {"SALES": 0.25, "PROC": 0.12, "OPS": 0.35, "FIN": 0.1, "HR": 0.08, "IT": 0.1}

TITLES = {
    "HEAD": {"en": "General Manager", "de": "Geschäftsführer", "zh": "总经理"},
    "SALES": {
        "en": ("Head of Sales", "Account Manager", "Sales Representative", "Inside Sales Specialist"),
        "de": ("Leiter Vertrieb", "Key Account Manager", "Vertriebsingenieur", "Vertriebsinnendienst"),
        "zh": ("销售总监", "客户经理", "销售代表", "销售助理"),
    },
    "PROC": {
        "en": ("Head of Procurement", "Buyer", "Strategic Buyer", "Supplier Quality Engineer"),
        "de": ("Leiter Einkauf", "Einkäufer", "Strategischer Einkäufer", "Lieferantenentwickler"),
        "zh": ("采购总监", "采购专员", "采购工程师", "供应商质量工程师"),
    },
    "OPS": {
        "en": ("Head of Operations", "Production Planner", "Maintenance Technician", "Shift Supervisor"),
        "de": ("Leiter Produktion", "Industriemechaniker", "Fertigungsplaner", "Schichtleiter"),
        "zh": ("生产总监", "生产计划员", "设备维修技师", "班组长"),
    },
    "FIN": {
        "en": ("Chief Financial Officer", "Accountant", "Controller", "Credit Analyst"),
        "de": ("Leiter Finanzen", "Buchhalter", "Controller", "Kreditmanager"),
        "zh": ("财务总监", "会计", "财务分析师", "出纳"),
    },
    "HR": {
        "en": ("Head of HR", "HR Business Partner", "Payroll Specialist", "Recruiter"),
        "de": ("Leiter Personal", "Personalreferent", "Lohnbuchhalter", "Recruiter"),
        "zh": ("人力资源总监", "人事专员", "薪酬专员", "招聘专员"),
    },
    "IT": {
        "en": ("Head of IT", "Systems Administrator", "ERP Consultant", "Service Desk Analyst"),
        "de": ("Leiter IT", "Systemadministrator", "SAP-Berater", "IT-Support"),
        "zh": ("信息技术总监", "系统管理员", "ERP 顾问", "IT 支持工程师"),
    },
}

# Country -> Faker locale, currency, telephone prefix.
COUNTRIES = {
    "DE": ("de_DE", "EUR", "49"),
    "AT": ("de_AT", "EUR", "43"),
    "FR": ("fr_FR", "EUR", "33"),
    "ES": ("es_ES", "EUR", "34"),  # not it_IT: its city names depend on PYTHONHASHSEED
    "NL": ("nl_NL", "EUR", "31"),
    "PL": ("pl_PL", "PLN", "48"),
    "CZ": ("cs_CZ", "CZK", "420"),
    "GB": ("en_GB", "GBP", "44"),
    "CN": ("zh_CN", "CNY", "86"),
    "JP": ("ja_JP", "JPY", "81"),
    "KR": ("ko_KR", "KRW", "82"),
    "VN": ("vi_VN", "VND", "84"),
    "TH": ("th_TH", "THB", "66"),
    "US": ("en_US", "USD", "1"),
    "CA": ("en_CA", "CAD", "1"),
    "MX": ("es_MX", "MXN", "52"),
}

# Chinese firms: city + brand + line of business + 有限公司, with the pinyin for web domains.
CN_CITIES = (
    ("上海", "上海市", ("浦东新区", "闵行区", "嘉定区", "松江区"), "21", "310115"),
    ("北京", "北京市", ("海淀区", "朝阳区", "大兴区"), "10", "110108"),
    ("深圳", "广东省深圳市", ("南山区", "宝安区", "龙岗区"), "755", "440300"),
    ("苏州", "江苏省苏州市", ("工业园区", "吴中区", "昆山市"), "512", "320500"),
    ("杭州", "浙江省杭州市", ("滨江区", "余杭区", "萧山区"), "571", "330100"),
    ("宁波", "浙江省宁波市", ("北仑区", "鄞州区", "慈溪市"), "574", "330200"),
    ("无锡", "江苏省无锡市", ("新吴区", "惠山区", "江阴市"), "510", "320200"),
    ("广州", "广东省广州市", ("黄埔区", "番禺区", "白云区"), "20", "440100"),
)
CN_ROADS = ("张江路", "世纪大道", "人民路", "中山路", "建设路", "解放路", "长江路", "科技园路", "工业大道", "创新路")
CN_BRANDS = (
    ("华东", "huadong"),
    ("恒信", "hengxin"),
    ("瑞丰", "ruifeng"),
    ("鑫源", "xinyuan"),
    ("海天", "haitian"),
    ("中科", "zhongke"),
    ("金达", "jinda"),
    ("宏发", "hongfa"),
    ("永盛", "yongsheng"),
    ("天合", "tianhe"),
    ("东方", "dongfang"),
    ("联创", "lianchuang"),
    ("博远", "boyuan"),
    ("汇通", "huitong"),
    ("明辉", "minghui"),
    ("佳禾", "jiahe"),
    ("盛达", "shengda"),
    ("正泰", "zhengtai"),
    ("华宇", "huayu"),
    ("凯利", "kaili"),
    ("远航", "yuanhang"),
    ("新力", "xinli"),
    ("同创", "tongchuang"),
    ("利民", "limin"),
    ("长城", "changcheng"),
)
CN_CUSTOMER_LINES = (
    ("贸易", "trading"),
    ("电子科技", "electronics"),
    ("机电设备", "mechatronics"),
    ("汽车零部件", "autoparts"),
    ("精密机械", "precision"),
    ("自动化设备", "automation"),
    ("新能源科技", "newenergy"),
)
CN_SUPPLIER_LINES = (
    ("金属制品", "metal"),
    ("塑胶", "plastics"),
    ("电子", "electronic"),
    ("物流", "logistics"),
    ("包装材料", "packaging"),
    ("五金", "hardware"),
    ("轴承", "bearing"),
    ("化工", "chemical"),
)
CN_SURNAMES = (
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
)
CN_GIVEN_NAMES = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("秀英", "xiuying"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀兰", "xiulan"),
    ("霞", "xia"),
    ("平", "ping"),
    ("建华", "jianhua"),
    ("志强", "zhiqiang"),
    ("晓东", "xiaodong"),
    ("海燕", "haiyan"),
    ("子涵", "zihan"),
)

# Business lines for Western firms named after a Faker surname ("Scheel Antriebstechnik GmbH").
CUSTOMER_LINES = {
    "de": (
        ("Maschinenbau", "GmbH"),
        ("Anlagenbau", "GmbH & Co. KG"),
        ("Automobiltechnik", "AG"),
        ("Fördertechnik", "GmbH"),
        ("Handelsgesellschaft", "mbH"),
    ),
    "en": (
        ("Machinery", "Inc."),
        ("Automation", "LLC"),
        ("Equipment Co.", ""),
        ("Industries", "Corp."),
        ("Engineering", "LLC"),
    ),
}
SUPPLIER_LINES = {
    "de": (
        ("Stahlhandel", "GmbH"),
        ("Kunststofftechnik", "GmbH"),
        ("Elektrotechnik", "KG"),
        ("Logistik", "GmbH & Co. KG"),
        ("Verpackungen", "GmbH"),
        ("Schrauben und Normteile", "GmbH"),
    ),
    "en": (
        ("Steel Supply", "Inc."),
        ("Fasteners", "LLC"),
        ("Packaging", "Corp."),
        ("Logistics", "Inc."),
        ("Electronics", "LLC"),
        ("Plastics", "Inc."),
    ),
}
CITIES = {  # city, first digits of its postcodes, telephone area code
    "DE": (
        ("Stuttgart", "70", "711"),
        ("München", "80", "89"),
        ("Frankfurt am Main", "60", "69"),
        ("Hamburg", "20", "40"),
        ("Köln", "50", "221"),
        ("Nürnberg", "90", "911"),
        ("Mannheim", "68", "621"),
        ("Dortmund", "44", "231"),
    ),
    "US": (
        ("Chicago, IL", "606", "312"),
        ("Detroit, MI", "482", "313"),
        ("Houston, TX", "770", "713"),
        ("Cleveland, OH", "441", "216"),
        ("Milwaukee, WI", "532", "414"),
        ("Charlotte, NC", "282", "704"),
        ("Atlanta, GA", "303", "404"),
    ),
}

CREDIT_RATINGS = (
    ("AAA", 4, 2_000_000),
    ("AA", 10, 1_000_000),
    ("A", 28, 500_000),
    ("BBB", 30, 250_000),
    ("BB", 16, 100_000),
    ("B", 9, 50_000),
    ("C", 3, 10_000),
)  # rating, weight, typical limit
PAYMENT_TERMS = (("NET30", 40), ("NET60", 25), ("NET45", 12), ("2/10 NET30", 13), ("NET90", 10))
CUSTOMER_INDUSTRIES = ("automotive", "machinery", "energy", "electronics", "logistics", "construction")
CRM_SEGMENTS = ("Enterprise", "Mid-Market", "SMB")

# Material catalogue: type, code prefix, share of 300, templates
# (name, specification pattern, unit, category, HS code, weight range kg or None).
MATERIAL_GROUPS = (
    (
        MaterialType.RAW,
        "RM",
        70,
        (
            ("Cold-rolled steel sheet DC01", "{t} mm x 1250 mm", "KG", "Metals", "7209.16", None),
            ("Stainless steel plate 1.4301", "{t} mm, 2B finish", "KG", "Metals", "7219.33", None),
            ("Aluminium profile 6063-T5", "{p} mm x {p} mm, 6 m", "M", "Metals", "7604.29", (0.8, 4.0)),
            ("Copper wire Cu-ETP", "Ø {d} mm", "KG", "Metals", "7408.11", None),
            ("Polypropylene granulate", "PP H{n}, natural", "KG", "Plastics", "3902.10", None),
            ("不锈钢板 304", "{t} mm, 2B 表面", "KG", "Metals", "7219.33", None),
            ("冷轧钢卷 SPCC", "{t} mm x 1219 mm", "KG", "Metals", "7209.17", None),
            ("ABS 粒料", "牌号 {n}, 本色", "KG", "Plastics", "3903.30", None),
        ),
    ),
    (
        MaterialType.SEMI_FINISHED,
        "SF",
        40,
        (
            ("Machined gear housing", "GH-{n}, EN-GJL-250", "EA", "Castings", "8483.90", (3.0, 25.0)),
            ("Welded base frame", "BF-{n}, S235JR, primed", "EA", "Assemblies", "7308.90", (12.0, 80.0)),
            ("PCB assembly controller", "CTRL-{n} rev {r}", "EA", "Electronics", "8537.10", (0.1, 0.6)),
            ("Drive shaft", "Ø {p} mm x {l} mm, C45", "EA", "Machined parts", "8483.10", (0.5, 9.0)),
        ),
    ),
    (
        MaterialType.FINISHED,
        "FG",
        50,
        (
            ("Helical gear motor", "HGM-{n}, {kw} kW, i={i}", "EA", "Drives", "8501.52", (15.0, 220.0)),
            ("Hydraulic power unit", "HPU-{n}, {kw} kW, 40 l", "EA", "Hydraulics", "8412.29", (60.0, 300.0)),
            ("Belt conveyor module", "BCM-{l}, width {p}0 mm", "EA", "Conveyors", "8428.33", (40.0, 260.0)),
            ("Frequency inverter", "FI-{n}, {kw} kW, 400 V", "EA", "Drives", "8504.40", (2.0, 30.0)),
            ("减速电机", "型号 RM-{n}, {kw} kW", "EA", "Drives", "8501.52", (15.0, 180.0)),
        ),
    ),
    (
        MaterialType.TRADING,
        "TG",
        30,
        (
            ("Safety gloves, cut level C", "size {s}", "PR", "Safety", "6116.10", (0.05, 0.1)),
            ("Safety helmet EN 397", "colour {c}", "EA", "Safety", "6506.10", (0.3, 0.5)),
            ("Industrial lubricant ISO VG {v}", "20 l canister", "L", "Lubricants", "2710.19", None),
            ("Cable ties, polyamide 6.6", "{l2}0 x {w}.5 mm, black, 100 pcs", "PAK", "Installation", "3926.90", None),
            ("Safety goggles EN 166", "lens {c}", "EA", "Safety", "9004.90", (0.05, 0.1)),
        ),
    ),
    (
        MaterialType.SPARE_PART,
        "SP",
        70,
        (
            ("Deep groove ball bearing 62{nn}-2RS", "d={p} mm, sealed", "EA", "Bearings", "8482.10", (0.05, 1.5)),
            ("O-ring NBR 70", "{p} x {w} mm", "EA", "Seals", "4016.93", None),
            ("V-belt SPZ", "Ld {l} mm", "EA", "Belts", "4010.32", (0.1, 0.5)),
            ("Hex bolt DIN 933 8.8 zinc plated", "M{m} x {l2} mm", "EA", "Fasteners", "7318.15", None),
            ("Proximity sensor inductive", "M{m}, PNP, {p} mm range", "EA", "Sensors", "8536.50", (0.05, 0.2)),
            ("深沟球轴承 60{nn}", "内径 {p} mm", "EA", "Bearings", "8482.10", (0.05, 1.2)),
        ),
    ),
    (
        MaterialType.SERVICE,
        "SV",
        15,
        (
            ("Maintenance service", "on site, per hour, level {r}", "H", "Services", "", None),
            ("Calibration service", "torque tools, up to {p}0 Nm", "EA", "Services", "", None),
            ("Freight forwarding", "FTL zone {r}", "EA", "Services", "", None),
            ("Drive repair service", "workshop, {kw} kW class", "EA", "Services", "", None),
            ("Commissioning service", "conveyor line {l} mm, per day", "D", "Services", "", None),
        ),
    ),
    (
        MaterialType.PACKAGING,
        "PK",
        25,
        (
            ("Euro pallet EPAL", "1200 x 800 mm, class {r}", "EA", "Packaging", "4415.20", (20.0, 25.0)),
            ("Corrugated box", "{l} x {p}0 x {p}0 mm, double wall", "EA", "Packaging", "4819.10", (0.3, 1.5)),
            ("Stretch film", "{w}0 µm x 500 mm", "RL", "Packaging", "3920.10", (2.0, 3.0)),
            ("瓦楞纸箱", "{l} x {p}0 x {p}0 mm, 五层", "EA", "Packaging", "4819.10", (0.3, 1.5)),
        ),
    ),
)
