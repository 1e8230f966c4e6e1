from django.db import migrations, models


class Migration(migrations.Migration):
    """Unsafe: a plain CREATE INDEX blocks writes for the whole build."""

    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddIndex(
            model_name="item",
            index=models.Index(fields=["qty"], name="shop_item_qty_idx"),
        ),
    ]
