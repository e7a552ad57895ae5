"""Sync failures carry their owning org unit (filled for existing rows by 0008)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0006_sealed_documents"),
        ("masterdata", "0009_fuzzy_block_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncfailure",
            name="owner_org",
            field=models.ForeignKey(
                blank=True,
                help_text="Whose failure it is (copied when recorded): the queue is scoped by it, like conflicts.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="masterdata.orgunit",
            ),
        ),
        migrations.AlterField(
            model_name="syncfailure",
            name="golden_id",
            field=models.BigIntegerField(
                blank=True,
                help_text="The golden record the failure concerns (a push failed for, a pull linked to).",
                null=True,
            ),
        ),
    ]
