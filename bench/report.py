"""docs/benchmarks.md is written by the benchmark commands, one `## section` each."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "# Benchmarks\n\nWritten by `./dev bench`; each section by the command named in it.\n"


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the section `## title` of the report at `path`."""
    text = path.read_text() if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}"
    path.write_text(text.rstrip() + "\n")
