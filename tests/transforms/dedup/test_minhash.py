"""MinHash signatures, shingles, LSH bands and components: the pure functions."""

from __future__ import annotations

import random

import numpy as np
import pytest

from transforms.dedup import minhash

TEXT = (
    "Taliban fighters seized the Kohistan district of Badakhshan province on Thursday night after "
    "security forces withdrew from the district police headquarters, local officials said on Friday. "
    "The provincial police spokesman said reinforcements had not arrived in time."
)


def exact_jaccard(a: str, b: str, k: int) -> float:
    def grams(text: str) -> set[tuple[str, ...]]:
        tokens = minhash.words(text)
        return {tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1)}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def test_shingles_are_word_windows_case_and_punctuation_blind() -> None:
    assert len(minhash.shingle_hashes("one two three four five six", 5)) == 2
    assert np.array_equal(
        minhash.shingle_hashes("One, two; THREE four five!", 5), minhash.shingle_hashes("one two three four five", 5)
    )
    assert len(minhash.shingle_hashes("too short", 5)) == 1  # shorter than k: one shingle
    assert minhash.shingle_hashes("", 5).size == 0
    assert minhash.shingle_hashes("a b c d e a b c d e", 5).size == 5  # distinct shingles only


def test_words_are_hashed_alike_wherever_they_stand() -> None:
    text = "Alpha, beta—ALPHA’s “beta” café Café naïve\u00a0alpha"
    hashes = minhash.word_hashes(text)
    assert len(hashes) == len(minhash.words(text)) == 9
    assert len(set(hashes.tolist())) == 5  # alpha, beta, s, café, naïve
    assert hashes[0] == hashes[2] == hashes[8] and hashes[1] == hashes[4] and hashes[5] == hashes[6]
    assert minhash.word_hashes("").size == 0 and minhash.word_hashes(" ,;— ").size == 0


def test_signatures_are_deterministic_and_a_text_matches_itself() -> None:
    one, two = minhash.MinHasher.create(128, 5), minhash.MinHasher.create(128, 5)
    assert np.array_equal(one.signature(TEXT), two.signature(TEXT))
    assert minhash.similarity(one.signature(TEXT), one.signature(TEXT)) == 1.0
    assert one.signature(TEXT).dtype == np.uint32 and len(one.signature(TEXT)) == 128
    restored = minhash.from_bytes(minhash.to_bytes(one.signature(TEXT)))
    assert np.array_equal(restored, one.signature(TEXT))


def test_estimated_similarity_tracks_exact_jaccard() -> None:
    rng = random.Random(3)
    hasher = minhash.MinHasher.create(256, 3)
    words = TEXT.split()
    for _ in range(20):
        edited = [w for w in words if rng.random() > 0.15]  # drop ~15% of the words
        variant = " ".join(edited)
        estimate = minhash.similarity(hasher.signature(TEXT), hasher.signature(variant))
        assert abs(estimate - exact_jaccard(TEXT, variant, 3)) < 0.12


def test_unrelated_texts_are_dissimilar() -> None:
    hasher = minhash.MinHasher.create(128, 5)
    other = "The central bank raised interest rates by half a point to curb inflation, its governor said."
    assert minhash.similarity(hasher.signature(TEXT), hasher.signature(other)) < 0.05


def test_bands_split_the_signature_and_equal_bands_give_equal_keys() -> None:
    hasher = minhash.MinHasher.create(128, 5)
    sig = hasher.signature(TEXT)
    keys = minhash.band_keys(sig, 32)
    assert len(keys) == 32 and len(set(keys)) == 32 and keys[0].startswith("00:")
    changed = sig.copy()
    changed[5] ^= 1  # band 1 (rows 4-7) differs, the others do not
    other = minhash.band_keys(changed, 32)
    assert [a == b for a, b in zip(keys, other, strict=True)] == [True, False] + [True] * 30


def test_candidate_probability_is_an_s_curve_around_the_threshold() -> None:
    assert minhash.candidate_probability(0.8, 32, 4) > 0.999
    assert minhash.candidate_probability(0.2, 32, 4) < 0.05
    assert 0.4 < minhash.candidate_probability(0.42, 32, 4) < 0.8


@pytest.mark.parametrize(
    "edges, expected",
    [
        ([("a", "b"), ("b", "c"), ("x", "y")], {"a": "a", "b": "a", "c": "a", "x": "x", "y": "x"}),
        ([("d", "c"), ("b", "a"), ("c", "b")], {"a": "a", "b": "a", "c": "a", "d": "a"}),
        ([], {}),
    ],
)
def test_components(edges: list[tuple[str, str]], expected: dict[str, str]) -> None:
    assert minhash.components(edges) == expected
