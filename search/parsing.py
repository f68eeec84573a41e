"""Query text into weighted terms, and the error every search reports to the visitor."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# "cat", "+sofa", "-dog", "2:cat", "-0.5:dog": optional sign, optional weight, then the word.
TERM = re.compile(r"^(?P<sign>[+-]?)(?:(?P<weight>\d+(?:\.\d+)?):)?(?P<word>.+)$")
MAX_TERMS = 32
MAX_WEIGHT = 100.0


class QueryError(ValueError):
    """The query cannot be answered; the message is shown to the user."""


@dataclass(frozen=True)
class Term:
    word: str
    weight: float


def parse_word_query(text: str) -> list[Term]:
    """Split free text into weighted terms: `cat +sofa -dog 2:cat`.

    Refuses (QueryError) what cannot make a sensible query vector: control characters, weights
    over MAX_WEIGHT (a huge weight overflows float32 and the vector becomes NaN) and more than
    MAX_TERMS terms."""
    if any(unicodedata.category(char) == "Cc" and not char.isspace() for char in text):
        raise QueryError("The query contains control characters; type words only.")
    terms = []
    for token in re.split(r"[\s,]+", text.strip().lower()):
        match = TERM.match(token)
        if not match:
            continue
        word = match["word"].strip(".,;:!?\"'()[]{}")
        if not word:
            continue
        weight = float(match["weight"]) if match["weight"] else 1.0
        if weight > MAX_WEIGHT:
            raise QueryError(f"Weights go from 0 to {MAX_WEIGHT:g}; “{token[:40]}” is over that.")
        terms.append(Term(word, -weight if match["sign"] == "-" else weight))
    if len(terms) > MAX_TERMS:
        raise QueryError(f"A query can have at most {MAX_TERMS} words; this one has {len(terms)}.")
    return terms


def has_syntax(text: str) -> bool:
    """Whether the query uses weights or signs (`2:cat`, `+sofa`, `-dog`): then its terms are
    combined one by one; plain text is read as one phrase."""
    return any(
        (match := TERM.match(token)) and (match["sign"] or match["weight"])
        for token in re.split(r"[\s,]+", text.strip())
    )
