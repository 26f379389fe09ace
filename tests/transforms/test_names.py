"""What may be written as a name, and which spelling of a name is written."""

from __future__ import annotations

import pytest

from transforms.core.names import is_name, is_proper_name, preferred_spelling


@pytest.mark.parametrize(
    "text, name, proper",
    [
        ("Kabul", True, True),
        ("al-Shabaab", True, True),
        ("كابل", True, True),  # no case in Arabic script
        ("army", True, False),  # a role: a name, no proper name
        ("singh", True, False),
        ("\ufffd", False, False),
        ("Sh\ufffdkh Ahmed", False, False),
        ("Kabul\x07", False, False),
        ("2,000", False, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_names(text: str | None, name: bool, proper: bool) -> None:
    assert is_name(text) is name
    assert text is None or is_proper_name(text) is proper


@pytest.mark.parametrize(
    "spellings, written",
    [
        ([("NEW DELHI", 3), ("New Delhi", 1)], "New Delhi"),  # ordinary case wins over frequency
        ([("NEW DELHI", 1)], "New Delhi"),
        ([("MCDONALD'S CORP", 1)], "Mcdonald's Corp"),
        ([("NATO", 2)], "NATO"),  # one word in capitals is an acronym
        ([("new delhi", 2), ("NEW DELHI", 1)], "new delhi"),
        ([("Badakhshan", 2), ("Badakshan", 3)], "Badakshan"),
    ],
)
def test_preferred_spelling(spellings: list[tuple[str, int]], written: str) -> None:
    assert preferred_spelling(spellings) == written
