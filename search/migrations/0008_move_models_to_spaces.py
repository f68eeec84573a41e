"""The embedding-space models move to the `spaces` app: their tables are renamed, nothing is
copied; `spaces.0001_initial` takes them over in Django's state."""

from django.db import migrations

TABLES = ("embeddingspace", "imageembedding", "word", "jointmodel")


class Migration(migrations.Migration):
    dependencies = [("search", "0007_joint_models")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel("JointModel"),
                migrations.DeleteModel("ImageEmbedding"),
                migrations.DeleteModel("Word"),
                migrations.DeleteModel("EmbeddingSpace"),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE search_{table} RENAME TO spaces_{table}",
                    reverse_sql=f"ALTER TABLE spaces_{table} RENAME TO search_{table}",
                )
                for table in TABLES
            ],
        )
    ]
