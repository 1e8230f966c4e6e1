from django.db import migrations, models


def slow_backfill(apps, schema_editor):
    # stands for a data migration that takes a while, under the lock the
    # AddField took
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(6)")


class Migration(migrations.Migration):
    """AddField takes ACCESS EXCLUSIVE on shop_item; RunPython then works on in
    the same transaction while that lock is held."""

    dependencies = [("shop", "0006_rename_note")]
    operations = [
        migrations.AddField(
            model_name="item", name="extra", field=models.IntegerField(null=True)
        ),
        migrations.RunPython(slow_backfill, migrations.RunPython.noop),
    ]
