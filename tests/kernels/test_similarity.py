"""Jaro-Winkler and Levenshtein against rapidfuzz, on ASCII and Chinese strings."""

from __future__ import annotations

import math

import kernel_cases
import numpy as np
import oracles
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import JaroWinkler, Levenshtein

from kernels import jaro_winkler, levenshtein
from kernels.similarity import MAX_CODE_POINTS


def pairs_of(texts: st.SearchStrategy[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(texts, texts), min_size=1, max_size=30)


ascii_text = st.text("abcdeXY ", max_size=12)
chinese_text = st.text("张王李赵刘陈杨黄伟芳娜秀英", max_size=6)
mixed_text = st.text(st.characters(max_codepoint=0x2FFFF, exclude_categories=["Cs"]), max_size=10)


@settings(max_examples=150, deadline=None)
@given(pairs_of(ascii_text) | pairs_of(chinese_text) | pairs_of(mixed_text))
def test_agrees_with_rapidfuzz(pairs: list[tuple[str, str]]) -> None:
    a = pa.array([x for x, _ in pairs])
    b = pa.array([y for _, y in pairs])
    assert jaro_winkler(a, b).to_pylist() == [JaroWinkler.similarity(x, y) for x, y in pairs]
    assert levenshtein(a, b).to_pylist() == [Levenshtein.distance(x, y) for x, y in pairs]


def test_cases_and_the_textbook_definition() -> None:
    a = pa.array([x for x, _ in kernel_cases.NAME_PAIRS])
    b = pa.array([y for _, y in kernel_cases.NAME_PAIRS])
    similarity = jaro_winkler(a, b).to_numpy(zero_copy_only=False)
    distance = levenshtein(a, b).to_pylist()
    for (x, y), s, d in zip(kernel_cases.NAME_PAIRS, similarity, distance, strict=True):
        if x is None or y is None or max(len(x), len(y)) > MAX_CODE_POINTS:
            assert math.isnan(s) and d == -1
        else:
            assert s == pytest.approx(oracles.jaro_winkler(x, y), abs=1e-15)
            assert s == JaroWinkler.similarity(x, y)
            assert d == Levenshtein.distance(x, y)


def test_longest_string_that_fits_and_one_that_does_not() -> None:
    fits = "张" * MAX_CODE_POINTS
    assert levenshtein(pa.array([fits]), pa.array(["张"])).to_pylist() == [MAX_CODE_POINTS - 1]
    assert jaro_winkler(pa.array([fits]), pa.array([fits])).to_pylist() == [1.0]
    too_long = pa.array(["a", fits + "x"])
    assert levenshtein(pa.array(["a", "b"]), too_long).to_pylist() == [0, -1]
    similarity = jaro_winkler(too_long, pa.array(["a", "b"])).to_numpy(zero_copy_only=False)
    assert similarity[0] == 1.0 and np.isnan(similarity[1])


def test_a_200_character_name_gets_null_and_the_other_rows_go_on() -> None:
    names = ["张伟", "王" * 200, "欧阳娜娜", None, "李"]
    others = ["张玮", "王芳", "x" * 200, "刘洋", "李"]
    a = pd.Series(names, index=[5, 6, 7, 8, 9], dtype="str")
    b = pd.Series(others, index=a.index, dtype="str")
    similarity = jaro_winkler(a, b)
    distance = levenshtein(a, b)
    assert similarity.index.equals(a.index) and distance.index.equals(a.index)
    null = [x is None or len(x) > MAX_CODE_POINTS or len(y) > MAX_CODE_POINTS
            for x, y in zip(names, others, strict=True)]
    assert similarity.isna().tolist() == null
    assert distance.eq(-1).tolist() == null
    for k, (x, y) in enumerate(zip(names, others, strict=True)):
        if not null[k]:
            assert similarity.iloc[k] == JaroWinkler.similarity(x, y)
            assert distance.iloc[k] == Levenshtein.distance(x, y)


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        levenshtein(pa.array(["a"]), pa.array(["a", "b"]))


def test_result_dtypes() -> None:
    a = pa.array(["张伟"])
    assert jaro_winkler(a, a).type == pa.float64()
    assert levenshtein(a, a).type == pa.int32()
    assert np.isnan(jaro_winkler(pa.array([None], pa.string()), a).to_numpy()[0])
