from django.db import migrations, models


class Migration(migrations.Migration):
    """Unsafe: int -> bigint rewrites the table under ACCESS EXCLUSIVE."""

    dependencies = [("shop", "0004_add_index_concurrently")]
    operations = [
        migrations.AlterField(
            model_name="item", name="qty", field=models.BigIntegerField(default=0)
        ),
    ]
