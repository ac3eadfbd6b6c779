"""Data for tests that must also pass without ../shared: the shared file when present, else a small generated
file in the same format (the tests compare programs with each other or with mathematics, not with the data)."""

from __future__ import annotations

import itertools
from pathlib import Path

from infwidth.errors import InfwidthError

CITY_STATE = [("chicago", "illinois"), ("houston", "texas"), ("philadelphia", "pennsylvania"),
              ("phoenix", "arizona"), ("dallas", "texas"), ("jacksonville", "florida"), ("detroit", "michigan"),
              ("memphis", "tennessee"), ("boston", "massachusetts"), ("seattle", "washington"),
              ("denver", "colorado"), ("baltimore", "maryland"), ("louisville", "kentucky"),
              ("milwaukee", "wisconsin"), ("portland", "oregon"), ("sacramento", "california"),
              ("atlanta", "georgia"), ("omaha", "nebraska"), ("cleveland", "ohio"), ("minneapolis", "minnesota")]


def _pairs(prefix: str, n: int, suffix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}{i}", f"{prefix}{i}{suffix}") for i in range(n)]


def questions_words(folder: Path) -> Path:
    """questions-words.txt: the shared, checksum-verified copy, or a generated one written in ``folder`` with
    the sections capital-common-countries, city-in-state, gram2-opposite and gram8-plural (every ordered pair
    of a section's word pairs is a question, as in the original file)."""
    from infwidth.data.analogy import QUESTIONS_WORDS, QUESTIONS_WORDS_SHA256
    from infwidth.data.text8 import resolve_data_file

    try:
        return resolve_data_file(QUESTIONS_WORDS, sha256=QUESTIONS_WORDS_SHA256)
    except InfwidthError:
        pass
    sections = {"capital-common-countries": [(f"capital{i}", f"country{i}") for i in range(12)],
                "city-in-state": CITY_STATE, "gram2-opposite": _pairs("kind", 12, "less"),
                "gram8-plural": _pairs("thing", 12, "s")}
    lines = []
    for name, pairs in sections.items():
        lines.append(f": {name}")
        lines += [f"{a} {b} {c} {d}" for (a, b), (c, d) in itertools.permutations(pairs, 2)]
    path = Path(folder) / "questions-words.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
