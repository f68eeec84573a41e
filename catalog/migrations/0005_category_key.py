from django.db import migrations, models

from catalog.names import clean_name, name_key


def fill_keys(apps, schema_editor):
    """Keys for existing categories; names that now map to a taken key get a number (as
    0003 did for names differing only in case)."""
    Category = apps.get_model("catalog", "Category")
    seen = set()
    for category in Category.objects.order_by("pk"):
        category.name = clean_name(category.name)
        if name_key(category.name) in seen:
            category.name = f"{category.name[:110]} ({category.pk})"
        category.key = name_key(category.name)
        seen.add(category.key)
        category.save(update_fields=["name", "key"])


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_category_label_words")]

    operations = [
        migrations.RemoveConstraint(model_name="category", name="category_name_unique_ignoring_case"),
        migrations.AddField(
            model_name="category",
            name="key",
            field=models.CharField(editable=False, max_length=400, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="category",
            name="key",
            field=models.CharField(editable=False, max_length=400, unique=True),
        ),
    ]
