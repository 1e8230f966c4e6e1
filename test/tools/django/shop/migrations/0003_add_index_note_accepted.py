from django.db import migrations, models


class Migration(migrations.Migration):
    """A migration that accepts one rule's risk: each Django migration runs
    in its own transaction, so SET LOCAL covers this migration only."""

    dependencies = [("shop", "0002_add_index_qty")]
    operations = [
        migrations.RunSQL(
            "SET LOCAL migguard.allow = 'index_not_concurrent'",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["note"], name="shop_item_note_idx"),
        ),
    ]
