"""Halfvecs stay in the row (storage MAIN) instead of a TOAST table: 1,280 and 1,856 halfvec dims
(2.6 and 3.7 kB) are over the 2 kB at which PostgreSQL moves values out of line, and every
search reads candidates' vectors back; in line, "more like this" took 15.1 ms instead of 17.9
(60k items, in-process). Metadata only (instant): rows written from now on (new items,
`compact_vectors`, reprocessing) are stored in line; a value too large for a page still goes
out of line."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("spaces", "0004_compact_vectors"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE spaces_imageembedding ALTER COLUMN compact SET STORAGE MAIN",
            "ALTER TABLE spaces_imageembedding ALTER COLUMN compact SET STORAGE EXTERNAL",
        ),
    ]
