from django.contrib.postgres.operations import CreateExtension, TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Trigram matching over the tag vocabulary, and edit distances, for "did you mean"."""

    dependencies = [("search", "0003_drop_class_probabilities_and_word_rank")]

    operations = [
        TrigramExtension(),
        CreateExtension("fuzzystrmatch"),
        migrations.RunSQL(
            "CREATE INDEX search_word_tag_trigrams ON search_word USING gin (word gin_trgm_ops) WHERE is_tag",
            reverse_sql="DROP INDEX search_word_tag_trigrams",
        ),
    ]
