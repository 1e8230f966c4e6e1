from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("qty", models.IntegerField(default=0)),
                ("note", models.TextField(default="")),
            ],
        ),
        # made large (for the suite's 1MB migguard.large_table_size) in the
        # transaction that creates it: exempt from every rule here
        migrations.RunSQL(
            "INSERT INTO shop_item (qty, note) SELECT g % 100, 'note ' || g"
            " FROM generate_series(1, 25000) g; ANALYZE shop_item",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
