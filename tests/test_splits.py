"""Splits on real data: no leakage across parts, reproducible, frozen by hash, serialisable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from perfcast.measurements.ingest import read_path
from perfcast.training import splits as S


@pytest.fixture(scope="module")
def kt(datasets_dir) -> pd.DataFrame:
    """Two real Kernel Tuner GEMM caches (two GPUs, one problem, repeated timestamps)."""
    frames = []
    for name in ("RTX_3090.json.gz", "RTX_Titan.json.gz"):
        frames += [c.frame for c in read_path(datasets_dir / "kerneltuner_gemm" / name)]
    return pd.concat(frames, ignore_index=True).sample(n=6000, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def gpperf(datasets_dir) -> pd.DataFrame:
    """GPPerf CUTLASS: many problems, each config repeated (the leaky-random-split dataset)."""
    frames = [c.frame for c in read_path(datasets_dir / "gpperf_cutlass")]
    f = pd.concat(frames, ignore_index=True)
    return f[f["kernel"] == "cutlass.gemm"].reset_index(drop=True)


def _disjoint(parts: dict[str, np.ndarray], n: int) -> None:
    seen = np.concatenate(list(parts.values()))
    assert len(seen) == len(np.unique(seen))
    assert seen.max() < n


def test_problem_split_keeps_problems_whole(gpperf):
    split = S.split_by_problem(gpperf, test_fraction=0.2, seed=3)
    tr, te = split.train_test(gpperf)
    _disjoint({"tr": tr, "te": te}, len(gpperf))
    assert len(tr) + len(te) == len(gpperf)
    keys = S.problem_keys(gpperf)
    assert not set(keys[tr]) & set(keys[te])
    n_problems = len(np.unique(keys))
    assert abs(len(np.unique(keys[te])) - 0.2 * n_problems) <= 1
    # repeated configs never straddle train and test
    ck = S.config_keys(gpperf)
    assert not set(ck[tr]) & set(ck[te])


def test_config_split_keeps_repeats_together(gpperf):
    split = S.split_by_config(gpperf, seed=0)
    tr, te = split.train_test(gpperf)
    ck = S.config_keys(gpperf)
    assert not set(ck[tr]) & set(ck[te])
    assert 0.1 < len(te) / len(gpperf) < 0.3


def test_reproducible_and_seed_dependent(kt):
    a = S.split_by_config(kt, seed=0)
    b = S.split_by_config(kt, seed=0)
    c = S.split_by_config(kt, seed=1)
    assert a == b and a.split_id == b.split_id
    assert a.hashes != c.hashes
    # row order does not change which rows go where
    shuffled = kt.sample(frac=1.0, random_state=5).reset_index(drop=True)
    tr, te = a.train_test(shuffled)
    assert set(S.row_ids(shuffled)[te]) == set(S.row_ids(kt)[a.train_test(kt)[1]])


def test_serialisable_and_frozen(kt):
    split = S.split_by_config(kt, seed=0)
    back = S.Split.from_json(split.to_json())
    assert back == split
    assert len(split.to_json()) < 1000  # small: kind, params, seed, hashes, counts
    np.testing.assert_array_equal(back.train_test(kt)[1], split.train_test(kt)[1])
    with pytest.raises(S.SplitMismatchError, match="rows differ"):
        split.parts(kt.iloc[:-10])


def test_system_split_k_target(kt):
    target = "NVIDIA TITAN RTX"
    split = S.split_by_system(kt, target=target, k_target=500, seed=0)
    tr, te = split.train_test(kt)
    sys_ = kt["system"].to_numpy()
    assert (sys_[te] == target).all()
    assert (sys_[tr] == target).sum() == 500
    assert (sys_[tr] != target).sum() == (sys_ != target).sum()
    with pytest.raises(ValueError, match="not in the frame"):
        S.split_by_system(kt, target="no such gpu")


def test_size_split(gpperf):
    size = S.problem_size(gpperf)
    threshold = float(np.quantile(np.unique(size), 0.5))
    split = S.split_by_size(gpperf, max_train_size=threshold, factor=4.0, seed=0)
    parts = split.parts(gpperf)
    _disjoint(parts, len(gpperf))
    assert (size[parts["train"]] <= threshold).all()
    assert (size[parts["in_range"]] <= threshold).all()
    assert (size[parts["test"]] >= 4 * threshold).all()
    keys = S.problem_keys(gpperf)
    assert not set(keys[parts["train"]]) & set(keys[parts["in_range"]])


def test_size_split_band_and_far_part(gpperf):
    size = S.problem_size(gpperf)
    threshold = float(np.quantile(np.unique(size), 0.3))
    split = S.split_by_size(gpperf, max_train_size=threshold, factor=4.0, max_factor=16.0, seed=0)
    parts = split.parts(gpperf)
    _disjoint(parts, len(gpperf))
    ratio = size / threshold
    assert len(parts["test"]) and len(parts["far"])
    assert ((ratio[parts["test"]] >= 4) & (ratio[parts["test"]] < 16)).all()
    assert (ratio[parts["far"]] >= 16).all()
    # Nothing ≥ 4× is lost: the band and the far part together are the unbounded split's test part.
    unbounded = S.split_by_size(gpperf, max_train_size=threshold, factor=4.0, seed=0).parts(gpperf)
    assert sorted([*parts["test"], *parts["far"]]) == sorted(unbounded["test"])
    assert split.split_id != S.split_by_size(gpperf, max_train_size=threshold, seed=0).split_id
    with pytest.raises(ValueError, match="max_factor"):
        S.split_by_size(gpperf, max_train_size=threshold, factor=4.0, max_factor=2.0)


def test_empty_part_is_an_error(gpperf):
    with pytest.raises(ValueError):
        S.split_by_size(gpperf, max_train_size=1e30)


def test_problem_keys_are_the_per_row_text(gpperf, kt):
    """Keys are built per distinct value and combination; they equal joining each row's fields as text
    (missing -> ""), also where values compare equal but print differently (-0.0, 1 vs 1.0 vs "1")."""
    from perfcast.models.calibration import group_folds, problem_keys

    def per_row(frame: pd.DataFrame, cols: list[str]) -> list[str]:
        return ["|".join("" if pd.isna(v) else str(v) for v in row) for row in frame[cols].itertuples(index=False)]

    for frame in (gpperf, kt):
        cols = ["system", *sorted(c for c in frame.columns if c.startswith("problem."))]
        assert problem_keys(frame).tolist() == per_row(frame, cols)
        assert problem_keys(frame, with_system=False).tolist() == per_row(frame, cols[1:])
    odd = pd.DataFrame({"system": ["a", "a", "a", "a", None, "a"], "problem.x": [0.0, -0.0, np.nan, 1e-5, 2.0, 0.0],
                        "problem.o": [1, 1.0, "1", None, True, 1]})
    keys = problem_keys(odd)
    assert keys.tolist() == ["a|1|0.0", "a|1.0|-0.0", "a|1|", "a||1e-05", "|True|2.0", "a|1|0.0"]
    assert list(keys.index) == list(odd.index)
    # folds follow the key text: rows with equal keys share a fold
    folds, _ = group_folds(problem_keys(gpperf), 0.2, seed=3)
    assert pd.Series(folds).groupby(problem_keys(gpperf).to_numpy()).nunique().max() == 1


def test_row_keys_hash_the_text_of_each_value(kt):
    """Config and problem keys hash each value's text (`repr(float)` for numbers, "" where missing),
    built once per distinct value; the same as hashing the per-row text (what keys were before, so
    splits frozen then still apply), also for -0.0, NaN, inf, nullable ints and uint64."""

    def per_row_text(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
        text = {}
        for c in sorted(cols):
            s = frame[c]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                text[c] = s.astype("float64").map(lambda v: "" if np.isnan(v) else repr(float(v)))
            else:
                text[c] = s.astype("string").fillna("")
        return pd.util.hash_pandas_object(pd.DataFrame(text), index=False).to_numpy(dtype=np.uint64)

    odd = pd.DataFrame({"kernel": ["k"] * 7, "problem.a": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
                        "problem.b": [0.0, -0.0, np.nan, np.inf, -np.inf, 1e300, 4096.0],
                        "problem.c": np.array([2**63 + 5, 0, 1, 2, 3, 4, 5], dtype=np.uint64),
                        "params.d": [-0.0, -0.0, 0.0, np.nan, 1.5, 2.5, -3.25],
                        "params.e": pd.array([True, None, False, True, True, False, None], dtype="boolean")})
    for frame in (kt, odd):
        config_cols = ["kernel", "system", *[c for c in frame.columns if c.startswith(("params.", "problem."))]]
        config_cols = [c for c in config_cols if c in frame.columns]
        assert np.array_equal(S.config_keys(frame), per_row_text(frame, config_cols))
        problem_cols = ["kernel", *[c for c in frame.columns if c.startswith("problem.")]]
        assert np.array_equal(S.problem_keys(frame), per_row_text(frame, problem_cols))
    keys = S.config_keys(odd)
    assert keys[0] != keys[1]  # 0.0 and -0.0 print differently, so they are different configs
    assert len(np.unique(keys)) == len(odd)
