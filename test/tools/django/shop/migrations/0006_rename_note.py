from django.db import migrations


class Migration(migrations.Migration):
    """A warning-level rule (rename_incompatible): Django does not show server
    warnings; the strict preset of migguard.rule_levels makes it an error."""

    dependencies = [("shop", "0005_alter_qty_bigint")]
    operations = [
        migrations.RenameField(model_name="item", old_name="note", new_name="remark"),
    ]
