from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The safe way: CREATE INDEX CONCURRENTLY, outside a transaction."""

    atomic = False
    dependencies = [("shop", "0003_add_index_note_accepted")]
    operations = [
        AddIndexConcurrently(
            model_name="item",
            index=models.Index(fields=["qty", "id"], name="shop_item_qty_id_idx"),
        ),
    ]
