"""Indexes for the ingest pipeline's fuzzy blocks on PostgreSQL (nothing on other databases).

For each batch the pipeline reads the records whose first fuzzy field (the name) begins like a
name of the batch: ``UPPER(SUBSTRING(name, 1, 4))`` for Latin names, ``…, 1, 2)`` for CJK
(:func:`masterdata.services.matching.fuzzy_candidates`). Without an index on those expressions
that is a scan of the whole table per batch, so a load slows down as the table grows (about
0.2 s per batch at 100,000 customers, seconds at 1,000,000); with them each block is an index
lookup. Expression indexes are PostgreSQL's (and written as in the query), so the operation
checks the database vendor instead of using ``AddIndex``.
"""

from django.db import migrations

#: (table, column) of the first fuzzy field of every masterdata domain, as in the registry.
BLOCK_COLUMNS = [
    ("masterdata_customer", "name"),
    ("masterdata_supplier", "name"),
    ("masterdata_material", "name"),
    ("masterdata_orgunit", "name"),
    ("masterdata_employee", "name"),
]
#: Block sizes of :func:`masterdata.services.matching.stored_prefix`: four letters, two CJK characters.
SIZES = (4, 2)


def index_name(table: str, column: str, size: int) -> str:
    return f"{table.removeprefix('masterdata_')}_{column}_block{size}"


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in BLOCK_COLUMNS:
        for size in SIZES:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{index_name(table, column, size)}" '
                f'ON "{table}" ((UPPER(SUBSTRING("{column}", 1, {size}))))'
            )
    for table in dict(BLOCK_COLUMNS):
        schema_editor.execute(f'ANALYZE "{table}"')  # statistics of the new expressions for the planner


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in BLOCK_COLUMNS:
        for size in SIZES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{index_name(table, column, size)}"')


class Migration(migrations.Migration):
    dependencies = [("masterdata", "0008_sealed_documents")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
