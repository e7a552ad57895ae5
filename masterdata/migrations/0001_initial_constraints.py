# Split from 0001_initial to keep files short: the indexes and constraints of the initial tables.

import django.core.serializers.json
import django.core.validators
import django.db.models.deletion
import masterdata.registry
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("masterdata", "0001_initial")]

    operations = [
        migrations.AddIndex(
            model_name='material',
            index=models.Index(fields=['updated_at', 'id'], name='material_updated_idx'),
        ),
        migrations.AddIndex(
            model_name='material',
            index=models.Index(fields=['created_at'], name='material_created_idx'),
        ),
        migrations.AddIndex(
            model_name='material',
            index=models.Index(fields=['category'], name='material_category_idx'),
        ),
        migrations.AddIndex(
            model_name='material',
            index=models.Index(fields=['material_type'], name='material_material_type_idx'),
        ),
        migrations.AddIndex(
            model_name='material',
            index=models.Index(fields=['unit_of_measure'], name='material_unit_of_measure_idx'),
        ),
        migrations.AddIndex(
            model_name='material',
            index=models.Index(fields=['name'], name='material_name_idx'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.UniqueConstraint(fields=('code',), name='material_code_unique'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'inactive', 'merged'])), name='material_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('merged_into__isnull', False), ('status', 'merged')), models.Q(models.Q(('status', 'merged'), _negated=True), ('merged_into__isnull', True)), _connector='OR'), name='material_merged_has_survivor'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='material_version_positive'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.CheckConstraint(condition=models.Q(('merged_into', models.F('id')), _negated=True), name='material_not_merged_into_itself'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.CheckConstraint(condition=models.Q(('code', ''), _negated=True), name='material_code_not_blank'),
        ),
        migrations.AddConstraint(
            model_name='material',
            constraint=models.CheckConstraint(condition=models.Q(('material_type__in', ['raw', 'semi_finished', 'finished', 'trading', 'spare_part', 'service', 'packaging'])), name='material_type_valid'),
        ),
        migrations.AddIndex(
            model_name='orgunit',
            index=models.Index(fields=['updated_at', 'id'], name='orgunit_updated_idx'),
        ),
        migrations.AddIndex(
            model_name='orgunit',
            index=models.Index(fields=['created_at'], name='orgunit_created_idx'),
        ),
        migrations.AddIndex(
            model_name='orgunit',
            index=models.Index(fields=['unit_type'], name='orgunit_unit_type_idx'),
        ),
        migrations.AddIndex(
            model_name='orgunit',
            index=models.Index(fields=['name'], name='orgunit_name_idx'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.UniqueConstraint(fields=('code',), name='orgunit_code_unique'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'inactive', 'merged'])), name='orgunit_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('merged_into__isnull', False), ('status', 'merged')), models.Q(models.Q(('status', 'merged'), _negated=True), ('merged_into__isnull', True)), _connector='OR'), name='orgunit_merged_has_survivor'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='orgunit_version_positive'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('merged_into', models.F('id')), _negated=True), name='orgunit_not_merged_into_itself'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('code', ''), _negated=True), name='orgunit_code_not_blank'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('valid_to__isnull', True), ('valid_from__isnull', True), ('valid_to__gte', models.F('valid_from')), _connector='OR'), name='orgunit_valid_range'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('parent', models.F('id')), _negated=True), name='orgunit_not_own_parent'),
        ),
        migrations.AddConstraint(
            model_name='orgunit',
            constraint=models.CheckConstraint(condition=models.Q(('unit_type__in', ['group', 'company', 'department', 'cost_centre'])), name='orgunit_type_valid'),
        ),
        migrations.AddIndex(
            model_name='employee',
            index=models.Index(fields=['updated_at', 'id'], name='employee_updated_idx'),
        ),
        migrations.AddIndex(
            model_name='employee',
            index=models.Index(fields=['created_at'], name='employee_created_idx'),
        ),
        migrations.AddIndex(
            model_name='employee',
            index=models.Index(fields=['email'], name='employee_email_idx'),
        ),
        migrations.AddIndex(
            model_name='employee',
            index=models.Index(fields=['name'], name='employee_name_idx'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.UniqueConstraint(fields=('code',), name='employee_code_unique'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'inactive', 'merged'])), name='employee_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('merged_into__isnull', False), ('status', 'merged')), models.Q(models.Q(('status', 'merged'), _negated=True), ('merged_into__isnull', True)), _connector='OR'), name='employee_merged_has_survivor'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='employee_version_positive'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(('merged_into', models.F('id')), _negated=True), name='employee_not_merged_into_itself'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(('code', ''), _negated=True), name='employee_code_not_blank'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(('leave_date__isnull', True), ('hire_date__isnull', True), ('leave_date__gte', models.F('hire_date')), _connector='OR'), name='employee_dates_ordered'),
        ),
        migrations.AddConstraint(
            model_name='employee',
            constraint=models.CheckConstraint(condition=models.Q(('manager', models.F('id')), _negated=True), name='employee_not_own_manager'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['updated_at', 'id'], name='customer_updated_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['created_at'], name='customer_created_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['tax_id'], name='customer_tax_id_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['email'], name='customer_email_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['country'], name='customer_country_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['credit_rating'], name='customer_credit_rating_idx'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['name'], name='customer_name_idx'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.UniqueConstraint(fields=('code',), name='customer_code_unique'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'inactive', 'merged'])), name='customer_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('merged_into__isnull', False), ('status', 'merged')), models.Q(models.Q(('status', 'merged'), _negated=True), ('merged_into__isnull', True)), _connector='OR'), name='customer_merged_has_survivor'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='customer_version_positive'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('merged_into', models.F('id')), _negated=True), name='customer_not_merged_into_itself'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('code', ''), _negated=True), name='customer_code_not_blank'),
        ),
        migrations.AddConstraint(
            model_name='customer',
            constraint=models.CheckConstraint(condition=models.Q(('credit_limit__isnull', True), ('credit_limit__gte', 0), _connector='OR'), name='customer_credit_limit_positive'),
        ),
        migrations.AddIndex(
            model_name='orgunitclosure',
            index=models.Index(fields=['descendant', 'ancestor'], name='orgclosure_desc_idx'),
        ),
        migrations.AddConstraint(
            model_name='orgunitclosure',
            constraint=models.UniqueConstraint(fields=('ancestor', 'descendant'), name='orgunitclosure_unique_pair'),
        ),
        migrations.AlterUniqueTogether(
            name='orgunitgrouppermission',
            unique_together={('group', 'permission', 'content_object')},
        ),
        migrations.AlterUniqueTogether(
            name='orgunituserpermission',
            unique_together={('user', 'permission', 'content_object')},
        ),
        migrations.AddIndex(
            model_name='sourcelink',
            index=models.Index(fields=['domain', 'golden_id'], name='sourcelink_golden_idx'),
        ),
        migrations.AddConstraint(
            model_name='sourcelink',
            constraint=models.UniqueConstraint(fields=('source', 'domain', 'source_key'), name='sourcelink_unique_key'),
        ),
        migrations.AddConstraint(
            model_name='sourcelink',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'vanished'])), name='sourcelink_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='sourcedomain',
            constraint=models.UniqueConstraint(fields=('source', 'domain'), name='sourcedomain_unique'),
        ),
        migrations.AddConstraint(
            model_name='sourcedomain',
            constraint=models.CheckConstraint(condition=models.Q(('direction__in', ['pull', 'push', 'both'])), name='sourcedomain_direction_valid'),
        ),
        migrations.AddConstraint(
            model_name='sourcedomain',
            constraint=models.CheckConstraint(condition=models.Q(('trust_rank__lte', 100)), name='sourcedomain_trust_range'),
        ),
        migrations.AddIndex(
            model_name='supplier',
            index=models.Index(fields=['updated_at', 'id'], name='supplier_updated_idx'),
        ),
        migrations.AddIndex(
            model_name='supplier',
            index=models.Index(fields=['created_at'], name='supplier_created_idx'),
        ),
        migrations.AddIndex(
            model_name='supplier',
            index=models.Index(fields=['tax_id'], name='supplier_tax_id_idx'),
        ),
        migrations.AddIndex(
            model_name='supplier',
            index=models.Index(fields=['country'], name='supplier_country_idx'),
        ),
        migrations.AddIndex(
            model_name='supplier',
            index=models.Index(fields=['contact_email'], name='supplier_contact_email_idx'),
        ),
        migrations.AddIndex(
            model_name='supplier',
            index=models.Index(fields=['name'], name='supplier_name_idx'),
        ),
        migrations.AddConstraint(
            model_name='supplier',
            constraint=models.UniqueConstraint(fields=('code',), name='supplier_code_unique'),
        ),
        migrations.AddConstraint(
            model_name='supplier',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'inactive', 'merged'])), name='supplier_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='supplier',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('merged_into__isnull', False), ('status', 'merged')), models.Q(models.Q(('status', 'merged'), _negated=True), ('merged_into__isnull', True)), _connector='OR'), name='supplier_merged_has_survivor'),
        ),
        migrations.AddConstraint(
            model_name='supplier',
            constraint=models.CheckConstraint(condition=models.Q(('version__gte', 1)), name='supplier_version_positive'),
        ),
        migrations.AddConstraint(
            model_name='supplier',
            constraint=models.CheckConstraint(condition=models.Q(('merged_into', models.F('id')), _negated=True), name='supplier_not_merged_into_itself'),
        ),
        migrations.AddConstraint(
            model_name='supplier',
            constraint=models.CheckConstraint(condition=models.Q(('code', ''), _negated=True), name='supplier_code_not_blank'),
        ),
    ]
