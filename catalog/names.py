"""Category names: the form a name is stored in, and the one key that every way of typing it maps to.

Lookups and the unique index use the same key, computed here in Python (PostgreSQL's `lower()`
and `UPPER()` disagree on characters such as the Kelvin sign, so the database never folds case).
"""

from __future__ import annotations

import unicodedata

DOTTED_I = "i\u0307"  # what case folding makes of "İ" (capital I with dot above)


def clean_name(name: str) -> str:
    """The name as stored and shown: composed (NFC: a "café" typed with a combining accent looks
    and compares the same as one typed with "é"), single spaces, no spaces around it."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def name_key(name: str) -> str:
    """One key per category whatever the way it was typed: compatibility forms unified (NFKC: the
    Kelvin sign is K, fullwidth ｃａｔ is cat, the "ﬁ" ligature is fi), then Unicode case folding
    (ß is ss), with the folded "İ" read as i, and composed again."""
    folded = unicodedata.normalize("NFKC", clean_name(name)).casefold().replace(DOTTED_I, "i")
    return unicodedata.normalize("NFC", folded)
