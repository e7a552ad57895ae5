"""Golden records: ``status`` indexed once, by a named index, without the LIKE index; history: not at all.

``db_index=True`` gave every golden and history table a B-tree and a ``varchar_pattern_ops`` index on
``status``; no query matches a status by pattern, and history is read by record and date, not status.
The operations are the ones ``makemigrations`` writes, one per model, made in a loop.
"""

from django.db import migrations, models

MODELS = ["customer", "employee", "material", "orgunit", "supplier"]


def status_field() -> models.CharField:
    """The field as it stands now (a new instance per operation: migration states keep their own)."""
    return models.CharField(
        choices=[("active", "Active"), ("inactive", "Inactive"), ("merged", "Merged")],
        default="active",
        max_length=16,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("masterdata", "0012_sourcelink_golden_index_covers_source"),
    ]

    operations = [
        *(
            migrations.AlterField(model_name=model_name, name="status", field=status_field())
            for name in MODELS
            for model_name in (name, f"historical{name}")
        ),
        *(
            migrations.AddIndex(model_name=name, index=models.Index(fields=["status"], name=f"{name}_status_idx"))
            for name in MODELS
        ),
    ]
