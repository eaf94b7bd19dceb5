"""The text-to-text cost model (`perfcast.models.text_model`): number spelling, tokens, and a small model
fitted on real Kernel Tuner GEMM measurements (CPU; torch from the `text` extra)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from perfcast.models.text_model import (  # noqa: E402 (after the torch check)
    ALLOWED,
    OUT_LEN,
    TextCostModel,
    decode_value,
    encode_value,
    record_texts,
    text_tokens,
)
from perfcast.training.evaluate import load_dataset, text_factory  # noqa: E402

SMALL = {"d_model": 32, "n_heads": 2, "n_layers": 1, "dim_ff": 64, "epochs": 30, "batch_size": 64,
         "learning_rate": 3e-3, "num_threads": 1, "progress": False}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-90, max_value=1e90, allow_nan=False, allow_infinity=False))
def test_value_spelling_round_trips_to_four_digits(x: float) -> None:
    tokens = encode_value(np.array([x]))
    assert tokens.shape == (1, OUT_LEN)
    assert ALLOWED[np.arange(OUT_LEN), tokens[0]].all()  # every position holds a token it may hold
    assert decode_value(tokens)[0] == pytest.approx(float(f"{x:.3e}"), rel=1e-12)


def test_value_spelling_clips_out_of_range_values() -> None:
    values = decode_value(encode_value(np.array([1e120, 1e-120, 9.9996e99])))
    np.testing.assert_allclose(values, [9.999e99, 1e-99, 9.999e99], rtol=1e-12)


def test_numbers_are_spelled_digit_by_digit() -> None:
    tokens = text_tokens("problem: K=4096 M=77\nparams: BLOCK_M=128 num_warps=4")
    assert tokens[:6] == ["problem", ":", "K", "=", "4", "0"]
    assert "BLOCK_M" in tokens and "128" not in tokens and tokens.count("1") == 1


@pytest.fixture(scope="module")
def kt_gemm() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_dataset("kerneltuner_gemm")
    frame = frame[frame["system"] == "NVIDIA GeForce RTX 2080 Ti"].sample(1800, random_state=0).reset_index(drop=True)
    return frame.iloc[:1500].reset_index(drop=True), frame.iloc[1500:].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(kt_gemm: tuple[pd.DataFrame, pd.DataFrame]) -> TextCostModel:
    return TextCostModel(**SMALL).fit(kt_gemm[0])


def test_fit_learns_runtime_from_real_text(kt_gemm: tuple[pd.DataFrame, pd.DataFrame], fitted: TextCostModel) -> None:
    train, test = kt_gemm
    pred = fitted.predict(test)
    assert list(pred.columns) == ["pred.runtime_ms", "pred.runtime_ms.q10", "pred.runtime_ms.q90"]
    assert pred.index.equals(test.index)
    y = test["runtime_ms"].to_numpy()
    ape = np.median(np.abs(pred["pred.runtime_ms"].to_numpy() / y - 1))
    constant = np.median(np.abs(np.median(train["runtime_ms"]) / y - 1))  # the training median for every row
    assert ape < 0.6 * constant, (ape, constant)
    assert (pred["pred.runtime_ms.q10"] <= pred["pred.runtime_ms"]).all()
    assert (pred["pred.runtime_ms"] <= pred["pred.runtime_ms.q90"]).all()
    coverage = np.mean((y >= pred["pred.runtime_ms.q10"]) & (y <= pred["pred.runtime_ms.q90"]))
    assert 0.6 <= coverage <= 0.95
    info = fitted.info_
    assert info["n_train_examples"] + info["n_calibration_examples"] == len(train)
    assert fitted.calibration_["runtime_ms"]["n_cal"] == info["n_calibration_examples"] > 0
    assert info["history"][-1]["train_loss"] < info["history"][0]["train_loss"]


def test_save_load_gives_the_same_answers(tmp_path, kt_gemm, fitted: TextCostModel) -> None:  # noqa: ANN001
    test = kt_gemm[1].head(40)
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["text_model.json", "weights.npz"]
    loaded = TextCostModel.load(tmp_path / "m", device="cpu")
    pd.testing.assert_frame_equal(loaded.predict(test), fitted.predict(test))
    assert loaded.get_params() == {**fitted.get_params(), "device": "cpu"}


def test_update_trains_on_new_measurements(tmp_path, kt_gemm, fitted: TextCostModel) -> None:  # noqa: ANN001
    fitted.save(tmp_path / "m")
    model = TextCostModel.load(tmp_path / "m", device="cpu")
    test = kt_gemm[1].head(40)
    before = model.predict(test)
    model.update(kt_gemm[1].iloc[40:], epochs=2)
    assert model.info_["updates"][-1]["n_rows"] == len(kt_gemm[1]) - 40
    assert not model.predict(test).equals(before)


def test_clear_errors(tmp_path, kt_gemm) -> None:  # noqa: ANN001
    with pytest.raises(RuntimeError, match="not fitted"):
        TextCostModel().predict(kt_gemm[1])
    with pytest.raises(ValueError, match="no measured target"):
        TextCostModel(**SMALL).fit(kt_gemm[0].drop(columns=["runtime_ms"]))
    with pytest.raises(ValueError, match="unknown targets"):
        TextCostModel(targets=("latency_us",)).fit(kt_gemm[0])
    with pytest.raises(FileNotFoundError, match="not a saved TextCostModel"):
        TextCostModel.load(tmp_path)


def test_texts_are_the_text_form_of_each_row(kt_gemm) -> None:  # noqa: ANN001
    texts = record_texts(kt_gemm[1].head(3))
    assert texts[0].startswith("system: NVIDIA GeForce RTX 2080 Ti\nkernel: clblast.xgemm\nproblem: ")
    assert "runtime_ms" not in texts[0] and len(set(texts)) == 3


def test_without_torch_evaluate_says_how_to_install(monkeypatch, capsys) -> None:  # noqa: ANN001
    import sys  # noqa: PLC0415

    from perfcast.cli import main  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[text\]"'):
        text_factory()
    assert main(["evaluate", "--suite", "kt_gemm_config", "--models", "text", "--quick"]) == 2
    assert 'TextCostModel needs torch: pip install -e ".[text]"' in capsys.readouterr().err


def test_evaluate_builds_the_text_model_on_request() -> None:
    model = text_factory(quick=True, epochs=1)()
    assert isinstance(model, TextCostModel) and model.epochs == 1 and model.d_model == 64


def test_digit_by_digit_quantiles_match_sampled_decodes(kt_gemm, fitted: TextCostModel) -> None:  # noqa: ANN001
    """The quantiles decoded digit by digit are those of the decoder's distribution: among 4,000 sampled
    decodes of the same rows, 10/50/90% lie below them (up to the sampling error)."""
    from perfcast.models.text_model import OUT_TOKENS, PAD, decode_value  # noqa: PLC0415

    src = fitted._encode_texts(record_texts(kt_gemm[1].head(3)))
    median, lo, hi = fitted._quantile_logs(src, 0)
    net, k = fitted.net_, 4000
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        s = torch.as_tensor(src)[:, : int((torch.as_tensor(src) != PAD).sum(1).max())]
        memory, pad = net.encode(s)
        memory, pad = memory.repeat_interleave(k, 0), pad.repeat_interleave(k, 0)
        seq = torch.full((len(memory), 1), len(OUT_TOKENS), dtype=torch.long)
        for _ in range(7):
            probs = torch.softmax(net.decode(memory, pad, seq)[:, -1].double(), -1)
            seq = torch.cat([seq, torch.multinomial(probs, 1, generator=gen)], 1)
    logs = np.log(decode_value(seq[:, 1:].numpy())).reshape(3, k)
    # the sampled decodes' CDF at each decoded quantile is its level (std of the estimate: <= 0.008)
    for level, value in ((0.5, median), (0.1, lo), (0.9, hi)):
        below, at_most = (logs < value[:, None]).mean(1), (logs <= value[:, None]).mean(1)
        assert ((below <= level + 0.03) & (at_most >= level - 0.03)).all(), (level, below, at_most)
    assert (lo < median).all() and (median < hi).all()


def test_quantiles_follow_the_order_of_numbers_across_exponent_signs() -> None:
    """A known decoder distribution: sign -/+ , exponent 01/02, mantissa 1.000/5.000, each half and half,
    so 8 equally likely values 1e-2 < 5e-2 < 1e-1 < 5e-1 < 1e1 < 5e1 < 1e2 < 5e2. A negative exponent's
    larger digits are the smaller numbers: its digits must be walked in reverse."""
    mass = {0: {11: 0.5, 10: 0.5}, 1: {0: 1.0}, 2: {1: 0.5, 2: 0.5}, 3: {1: 0.5, 5: 0.5}, 4: {0: 1.0}, 5: {0: 1.0}, 6: {0: 1.0}}

    class KnownDecoder:
        def eval(self) -> None:
            pass

        def encode(self, src):  # noqa: ANN001, ANN202
            return torch.zeros(len(src), 1, 4), torch.zeros(len(src), 1, dtype=torch.bool)

        def decode(self, memory, pad, seq):  # noqa: ANN001, ANN202
            logits = torch.full((len(seq), seq.shape[1], 12), float("-inf"))
            for token, p in mass[seq.shape[1] - 1].items():
                logits[:, -1, token] = float(np.log(p))
            return logits

    model = TextCostModel(coverage=0.8)
    model.device_, model.net_ = torch.device("cpu"), KnownDecoder()
    median, lo, hi = model._quantile_logs(np.ones((2, 3), dtype=np.int64), 0)
    np.testing.assert_allclose(np.exp([lo, median, hi]), [[1e-2] * 2, [5e-1] * 2, [5e2] * 2], rtol=1e-9)
