"""Halfvec storage for image spaces. Every step is instant on a large table: a nullable column,
NOT NULL dropped, a check added NOT VALID and validated without blocking writes. Spaces that
exist keep float32 until `manage.py compact_vectors` moves them over while they serve."""

import pgvector.django.halfvec
import pgvector.django.vector
from django.db import migrations, models

CHECK = "image_embedding_has_a_vector"
STORAGE_CHOICES = [("float16", "halfvec: 2 bytes a value (indexed as halfvec)"), ("float32", "vector: 4 bytes a value")]


class Migration(migrations.Migration):
    atomic = False  # VALIDATE CONSTRAINT takes a lighter lock outside the ADD's transaction

    dependencies = [
        ("spaces", "0003_text_encoding"),
    ]

    operations = [
        migrations.AddField(
            model_name="embeddingspace",
            name="storage",
            field=models.CharField(
                choices=STORAGE_CHOICES,
                default="float32",  # the spaces that exist
                max_length=8,
            ),
        ),
        migrations.AlterField(
            model_name="embeddingspace",
            name="storage",
            field=models.CharField(
                choices=STORAGE_CHOICES,
                default="float16",  # every space made from now on
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="imageembedding",
            name="compact",
            field=pgvector.django.halfvec.HalfVectorField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="imageembedding",
            name="embedding",
            field=pgvector.django.vector.VectorField(blank=True, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="imageembedding",
                    constraint=models.CheckConstraint(
                        condition=models.Q(embedding__isnull=False) | models.Q(compact__isnull=False), name=CHECK
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE spaces_imageembedding ADD CONSTRAINT {CHECK}"
                    " CHECK (embedding IS NOT NULL OR compact IS NOT NULL) NOT VALID",
                    f"ALTER TABLE spaces_imageembedding DROP CONSTRAINT {CHECK}",
                ),
                migrations.RunSQL(
                    f"ALTER TABLE spaces_imageembedding VALIDATE CONSTRAINT {CHECK}", migrations.RunSQL.noop
                ),
            ],
        ),
    ]
