"""Names people can count: what may be written as a name, and which spelling of a name to write.

Entity names, event actors, targets and locations pass through here, and the report counts names
with the same rules, so a name is one name in the tables and in the report:

- a name must hold a letter, and no replacement character (U+FFFD: bytes that could not be
  decoded) and no control, private-use or unassigned character; otherwise it is no name (null);
- a proper name (an NER entity) holds a capital when its script has case: "singh" or "nda" in
  cased running text is a tagging error, not a name;
- spellings that differ only in case are one name ("NEW DELHI", "New Delhi"); the name written is
  its most frequent spelling that is not all capitals or all lower case, else a multi-word
  all-capitals spelling in title case ("NEW DELHI" -> "New Delhi"; single words such as "NATO"
  keep their capitals).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Optional

REPLACEMENT = "\ufffd"
_NOT_TEXT = frozenset({"Cc", "Cs", "Co", "Cn"})  # control, surrogate, private use, unassigned


def is_name(text: Optional[str]) -> bool:
    """True when `text` can be written as a name: a letter, and nothing undecodable or invisible."""
    if not text or REPLACEMENT in text:
        return False
    if any(unicodedata.category(c) in _NOT_TEXT for c in text):
        return False
    return any(c.isalpha() for c in text)


def name_or_none(text: Optional[str]) -> Optional[str]:
    """`text` when it is a name, else None."""
    return text if is_name(text) else None


def is_proper_name(text: str) -> bool:
    """A name that holds a capital letter when it has cased letters at all (Arabic or Chinese
    script has none and passes)."""
    cased = [c for c in text if c.isupper() or c.islower()]
    return is_name(text) and (not cased or any(c.isupper() for c in cased))


def name_key(name: str) -> str:
    """What spellings of one name share: case-folded, spacing collapsed."""
    return " ".join(name.casefold().split())


def same_name(a: str, b: str) -> bool:
    """Two spellings of one name."""
    return name_key(a) == name_key(b)


def _mixed_case(spelling: str) -> bool:
    return not (spelling.isupper() or spelling.islower())


def preferred_spelling(spellings: Iterable[tuple[str, int]]) -> str:
    """The spelling to write among `(spelling, count)` pairs of one name (see the module docstring);
    ties go to the first given."""
    ranked = sorted(enumerate(spellings), key=lambda item: (not _mixed_case(item[1][0]), -item[1][1], item[0]))
    best = ranked[0][1][0]
    if best.isupper() and len(best.split()) > 1:
        return " ".join(word[:1] + word[1:].lower() for word in best.split())  # not str.title: "Mcdonald'S"
    return best
