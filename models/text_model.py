"""Text-to-text cost model: a small torch encoder-decoder reads a record's canonical text and writes
each target's number digit by digit (the RegressLM recipe, Song et al. 2024).

The encoder reads `perfcast.features.text.serialize_record(record)` (system, kernel, problem, params,
then normalised IR where the frame has `ir.*` text), split by the text form's tokenizer with every
number spelled digit by digit, so a problem size never seen in training is still made of known
tokens. The decoder writes a target with `serialize_target`'s digits, most significant first: the
exponent's sign and two digits, then four mantissa digits (`1.530e-01` -> `- 0 1 1 5 3 0`), each
position constrained to the tokens it may hold. One decoder start token per target (`runtime_ms`,
`power_w`, `energy_j`), so one network learns every target a frame measures.

Uncertainty comes from the decoder itself. The digits are written most significant first, so the
order of token sequences is the order of the numbers, and a quantile of the decoder's distribution is
found digit by digit: at each position take the token where the conditional cumulative probability
crosses the level, then look for the level's remainder inside that token's share (exact, one greedy
pass per level, no sampling noise). The median is the point, the 10% / 90% quantiles the raw interval,
conformalised in log space on problems held out of training (`perfcast.models.calibration`, the same
served-interval scores as `GBCostModel`).

Needs torch (`pip install -e ".[text]"`); the rest of perfcast never imports this module. The
estimator follows the package's cost-model contract: constructor arguments are hyperparameters,
`fit` / `predict` / `update`, `save` / `load` (a JSON file and an `.npz` of weights: no pickle).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from perfcast.features.text import EXCLUDED_FIELDS, TARGET_DIGITS, TOKEN_PATTERN, serialize_record
from perfcast.measurements.schema import is_hashable, usable
from perfcast.models.calibration import (
    apply_correction,
    conformal_quantile,
    conformity_scores,
    group_folds,
    problem_keys,
)
from perfcast.models.gbm import data_snapshot
from perfcast.models.onnx_model import json_default
from tqdm.auto import tqdm

__all__ = ["TextCostModel", "decode_value", "encode_value", "require_torch", "text_tokens"]

FORMAT_VERSION = 1
#: Targets the model can learn, and their units in the decoded text.
TARGET_UNITS: dict[str, str] = {"runtime_ms": "ms", "power_w": "W", "energy_j": "J"}
#: Decoder output vocabulary: digits, then the exponent's signs.
OUT_TOKENS: tuple[str, ...] = (*"0123456789", "+", "-")
_SIGN = {"+": 10, "-": 11}
#: Decoded positions, most significant first: the exponent's sign and two digits, then TARGET_DIGITS
#: mantissa digits (`1.530e-01` -> `- 0 1 1 5 3 0`): each mantissa digit is written knowing the magnitude.
OUT_LEN = TARGET_DIGITS + 3
_MANTISSA = 3  # the first mantissa position
PAD, UNK = 0, 1
_SPECIALS = ("<pad>", "<unk>")
#: Largest and smallest positive values two exponent digits spell (values are clipped into them).
_MAX_VALUE, _MIN_VALUE = 9.999e99, 1e-99


def _allowed() -> np.ndarray:
    """Which output tokens each decoded position may hold (positive values only: the mantissa's
    first digit is 1-9)."""
    allowed = np.zeros((OUT_LEN, len(OUT_TOKENS)), dtype=bool)
    allowed[0, 10:12] = True
    allowed[1:_MANTISSA, 0:10] = True
    allowed[_MANTISSA, 1:10] = True
    allowed[_MANTISSA + 1 :, 0:10] = True
    return allowed


ALLOWED = _allowed()


def _token_order() -> np.ndarray:
    """Per position, the output tokens in the order of the numbers they lead to (a positive exponent;
    `_quantile_logs` flips the exponent digits of a negative one): '-' before '+', then digits 0-9."""
    order = np.tile(np.arange(len(OUT_TOKENS)), (OUT_LEN, 1))
    order[0] = [_SIGN["-"], _SIGN["+"], *range(10)]
    return order[:, : len(OUT_TOKENS)]


_ORDER = _token_order()


def encode_value(values: np.ndarray) -> np.ndarray:
    """Positive values -> (n, OUT_LEN) output token ids of their `TARGET_DIGITS`-digit spelling
    (`serialize_target`'s digits, exponent first)."""
    v = np.clip(np.asarray(values, dtype=np.float64), _MIN_VALUE, _MAX_VALUE)
    out = np.empty((len(v), OUT_LEN), dtype=np.int64)
    for i, x in enumerate(v):
        mantissa, exponent = f"{x:.{TARGET_DIGITS - 1}e}".split("e")
        if float(f"{mantissa}e{exponent}") > _MAX_VALUE:  # rounding up past 9.999e99
            mantissa, exponent = "9." + "9" * (TARGET_DIGITS - 1), "+99"
        out[i, 0] = _SIGN[exponent[0]]
        out[i, 1:_MANTISSA] = [int(d) for d in exponent[1:].zfill(2)[-2:]]
        out[i, _MANTISSA:] = [int(d) for d in mantissa.replace(".", "")]
    return out


def decode_value(tokens: np.ndarray) -> np.ndarray:
    """(n, OUT_LEN) output token ids -> values (the inverse of `encode_value`), vectorised."""
    t = np.asarray(tokens, dtype=np.int64)
    sign = np.where(t[:, 0] == _SIGN["-"], -1.0, 1.0)
    exponent = t[:, 1] * 10 + t[:, 2]
    mantissa = np.zeros(len(t))
    for j in range(_MANTISSA, OUT_LEN):
        mantissa = mantissa * 10 + t[:, j]
    return mantissa / 10 ** (TARGET_DIGITS - 1) * 10.0 ** (sign * exponent)


def text_tokens(text: str) -> list[str]:
    """The text form's tokens (`TOKEN_PATTERN`) with every number split into its characters."""
    out: list[str] = []
    for m in TOKEN_PATTERN.finditer(text):
        token = m.group()
        if token[0].isdigit():
            out.extend(token)
        else:
            out.append(token)
    return out


def record_texts(frame: pd.DataFrame, include_ir: bool = True, max_tokens: int = 2048) -> list[str]:
    """`serialize_record` of every row of a flat (dotted) frame; rows that differ only in fields the
    text leaves out (targets, samples, bookkeeping) are serialised once."""
    columns = [c for c in frame.columns
               if not str(c).startswith(("_", "meta.")) and c not in EXCLUDED_FIELDS]  # fmt: skip
    rows = frame[columns].astype(object).where(frame[columns].notna(), None)
    cache: dict[tuple, str] = {}
    out = []
    for values in rows.itertuples(index=False, name=None):
        text = cache.get(values) if is_hashable(values) else None
        if text is None:
            text = serialize_record(dict(zip(columns, values, strict=True)), max_tokens=max_tokens, include_ir=include_ir)
            if is_hashable(values) and len(cache) < 1_000_000:
                cache[values] = text
        out.append(text)
    return out


def require_torch() -> Any:
    """The torch module, or an ImportError that says how to install it."""
    try:
        import torch  # noqa: PLC0415 (optional dependency, imported when a text model is used)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('TextCostModel needs torch: pip install -e ".[text]"') from exc
    return torch


def _network(n_src: int, n_targets: int, d_model: int, n_heads: int, n_layers: int, dim_ff: int,
             dropout: float, max_len: int) -> Any:  # fmt: skip
    """The encoder-decoder (built lazily: torch is optional)."""
    torch = require_torch()
    nn = torch.nn

    class Seq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_embed = nn.Embedding(n_src, d_model, padding_idx=PAD)
            self.src_pos = nn.Embedding(max_len, d_model)
            # decoder inputs: the output tokens, then one start token per target
            self.tgt_embed = nn.Embedding(len(OUT_TOKENS) + n_targets, d_model)
            self.tgt_pos = nn.Embedding(OUT_LEN, d_model)
            self.encoder = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(d_model, n_heads, dim_ff, dropout, batch_first=True, norm_first=True),
                n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False,
            )
            self.decoder = nn.TransformerDecoder(
                nn.TransformerDecoderLayer(d_model, n_heads, dim_ff, dropout, batch_first=True, norm_first=True),
                n_layers, norm=nn.LayerNorm(d_model),
            )
            self.head = nn.Linear(d_model, len(OUT_TOKENS))
            self.register_buffer("allowed", torch.as_tensor(ALLOWED), persistent=False)

        def encode(self, src: Any) -> tuple[Any, Any]:
            pad = src == PAD
            pos = torch.arange(src.shape[1], device=src.device)
            return self.encoder(self.src_embed(src) + self.src_pos(pos), src_key_padding_mask=pad), pad

        def decode(self, memory: Any, pad: Any, tgt_in: Any) -> Any:
            """Logits (batch, len(tgt_in), outputs), each position masked to the tokens it may hold."""
            n = tgt_in.shape[1]
            pos = torch.arange(n, device=tgt_in.device)
            causal = nn.Transformer.generate_square_subsequent_mask(n, device=tgt_in.device)
            h = self.decoder(self.tgt_embed(tgt_in) + self.tgt_pos(pos), memory, tgt_mask=causal,
                             memory_key_padding_mask=pad, tgt_is_causal=True)  # fmt: skip
            return self.head(h).masked_fill(~self.allowed[:n], float("-inf"))

        def forward(self, src: Any, tgt_in: Any) -> Any:
            memory, pad = self.encode(src)
            return self.decode(memory, pad, tgt_in)

    return Seq2Seq()


class TextCostModel:
    """Runtime / power / energy from a record's text, written digit by digit by a small transformer.

    Constructor arguments are hyperparameters. `fit(frame)` learns every target in `targets` the flat
    frame measures (rows with a finite, positive value of an ok run); `predict(frame)` returns
    `pred.<target>`, `.q10`, `.q90` per row; `update(frame)` trains on new measurements;
    `save(dir)` / `TextCostModel.load(dir)`.
    """

    def __init__(
        self,
        targets: Sequence[str] = ("runtime_ms", "power_w", "energy_j"),
        d_model: int = 128,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_ff: int = 256,
        dropout: float = 0.0,
        max_tokens: int = 256,
        max_vocab: int = 20_000,
        include_ir: bool = True,
        epochs: int = 30,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        coverage: float = 0.8,
        calibration_fraction: float = 0.1,
        update_epochs: int = 5,
        device: str = "auto",
        num_threads: int | None = None,
        seed: int = 0,
        progress: bool = True,
    ):
        self.targets = tuple(targets)
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_ff = dim_ff
        self.dropout = dropout
        self.max_tokens = max_tokens
        self.max_vocab = max_vocab
        self.include_ir = include_ir
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.coverage = coverage
        self.calibration_fraction = calibration_fraction
        self.update_epochs = update_epochs
        self.device = device
        self.num_threads = num_threads
        self.seed = seed
        self.progress = progress

    # ---- hyperparameters ---------------------------------------------------------------------------
    _HYPERPARAMETERS = (
        "targets", "d_model", "n_heads", "n_layers", "dim_ff", "dropout", "max_tokens", "max_vocab", "include_ir",
        "epochs", "batch_size", "learning_rate", "weight_decay", "coverage", "calibration_fraction",
        "update_epochs", "device", "num_threads", "seed",
    )  # fmt: skip

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (scikit-learn style)."""
        out = {k: getattr(self, k) for k in self._HYPERPARAMETERS}
        out["targets"] = list(self.targets)
        return out

    # ---- data ----------------------------------------------------------------------------------------
    def _torch_device(self) -> Any:
        torch = require_torch()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _encode_texts(self, texts: Sequence[str], tokenized: Mapping[str, list[str]] | None = None) -> np.ndarray:
        """Texts -> (n, max_tokens) source token ids (unknown tokens -> UNK, padded with PAD); `tokenized`
        holds texts' tokens already split (`fit` splits each distinct text once)."""
        ids = np.full((len(texts), self.max_tokens), PAD, dtype=np.int64)
        seen: dict[str, np.ndarray] = {}
        vocab = self.vocab_
        for i, text in enumerate(texts):
            row = seen.get(text)
            if row is None:
                tokens = tokenized[text] if tokenized is not None else text_tokens(text)
                row = np.array([vocab.get(t, UNK) for t in tokens[: self.max_tokens]], dtype=np.int64)
                seen[text] = row
            ids[i, : len(row)] = row
        return ids

    def _examples(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(row index, target index, output tokens, log value) of every measured (row, target)."""
        rows, target_idx, values = [], [], []
        for j, target in enumerate(self.targets_):
            ok = np.flatnonzero(usable(frame, target))
            rows.append(ok)
            target_idx.append(np.full(len(ok), j))
            values.append(pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=np.float64)[ok])
        if not rows:
            return (np.zeros(0, np.int64),) * 2 + (np.zeros((0, OUT_LEN), np.int64), np.zeros(0))  # type: ignore[return-value]
        r, t, v = np.concatenate(rows), np.concatenate(target_idx), np.concatenate(values)
        return r, t, encode_value(v), np.log(np.clip(v, _MIN_VALUE, _MAX_VALUE))

    # ---- fitting ------------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> TextCostModel:
        """Learn every target of `targets` that `frame` measures; hold out `calibration_fraction` of its
        problems (whole problems; sweeps of one problem by row) to conformalise the intervals."""
        torch = require_torch()
        t0 = time.perf_counter()
        frame = frame.reset_index(drop=True)
        unknown = [t for t in self.targets if t not in TARGET_UNITS]
        if unknown:
            raise ValueError(f"unknown targets {unknown}; known: {sorted(TARGET_UNITS)}")
        self.targets_ = [t for t in self.targets if usable(frame, t).any()]
        if not self.targets_:
            raise ValueError(f"no measured target to learn: the frame has none of {list(self.targets)} with a "
                             "finite, positive value of an ok run")  # fmt: skip
        texts = record_texts(frame, self.include_ir)
        tokenized = {text: text_tokens(text) for text in set(texts)}
        counts = Counter(t for tokens in tokenized.values() for t in tokens[: self.max_tokens])
        kept = [t for t, _ in counts.most_common(max(0, self.max_vocab - len(_SPECIALS)))]
        self.vocab_ = {t: i for i, t in enumerate((*_SPECIALS, *sorted(kept)))}
        src = self._encode_texts(texts, tokenized)
        rows, tix, tokens, logv = self._examples(frame)
        folds, rule = group_folds(problem_keys(frame, with_system=False), self.calibration_fraction, self.seed)
        cal = folds[rows] == 0
        torch.manual_seed(self.seed)
        self.device_ = self._torch_device()
        self.net_ = _network(len(self.vocab_), len(self.targets_), self.d_model, self.n_heads, self.n_layers,
                             self.dim_ff, self.dropout, self.max_tokens).to(self.device_)  # fmt: skip
        history = self._train(src, rows[~cal], tix[~cal], tokens[~cal], self.epochs, self.learning_rate,
                              val=(rows[cal], tix[cal], tokens[cal]))  # fmt: skip
        self.calibration_ = self._calibrate(src, rows[cal], tix[cal], logv[cal], rule)
        self.info_ = {
            "n_rows": len(frame), "n_examples": int(len(rows)), "n_train_examples": int((~cal).sum()),
            "n_calibration_examples": int(cal.sum()), "vocab_size": len(self.vocab_),
            "truncated_texts": sum(len(tokens) > self.max_tokens for tokens in tokenized.values()),
            "history": history, "fit_seconds": round(time.perf_counter() - t0, 2), "device": str(self.device_),
            "data": data_snapshot(frame),
        }  # fmt: skip
        return self

    def _train(self, src: np.ndarray, rows: np.ndarray, tix: np.ndarray, tokens: np.ndarray, epochs: int,
               learning_rate: float, val: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[dict]:  # fmt: skip
        """Teacher-forced cross-entropy over the output tokens; AdamW, warm-up then cosine decay."""
        torch = require_torch()
        device, net = self.device_, self.net_
        n = len(rows)
        if n == 0:
            raise ValueError("no training examples (every measured row fell in the calibration split)")
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        total = max(1, epochs * steps_per_epoch)
        warmup = min(200, max(1, total // 10))
        opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
        )
        src_t = torch.as_tensor(src, device=device)
        start = len(OUT_TOKENS)
        rng = np.random.default_rng(self.seed)
        history: list[dict] = []
        bar = tqdm(range(epochs), desc="text model", unit="epoch", disable=not self.progress, leave=False)
        for epoch in bar:
            net.train()
            order = rng.permutation(n)
            total_loss = 0.0
            for b in range(steps_per_epoch):
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                loss = self._loss(src_t, rows[idx], tix[idx], tokens[idx], start)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                total_loss += float(loss.detach()) * len(idx)
            entry = {"epoch": epoch + 1, "train_loss": round(total_loss / n, 5)}
            if val is not None and len(val[0]):
                entry["val_loss"] = round(self._eval_loss(src_t, *val, start), 5)
            history.append(entry)
            bar.set_postfix({k: v for k, v in entry.items() if k != "epoch"})
        net.eval()
        return history

    def _loss(self, src_t: Any, rows: np.ndarray, tix: np.ndarray, tokens: np.ndarray, start: int) -> Any:
        torch = require_torch()
        device = src_t.device
        out = torch.as_tensor(tokens, device=device)
        first = torch.as_tensor(start + tix, device=device)[:, None]
        tgt_in = torch.cat([first, out[:, :-1]], dim=1)
        src = src_t[torch.as_tensor(rows, device=device)]
        src = src[:, : max(1, int((src != PAD).sum(1).max()))]  # the batch's longest text, not max_tokens
        logits = self.net_(src, tgt_in)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), out.reshape(-1))

    def _eval_loss(self, src_t: Any, rows: np.ndarray, tix: np.ndarray, tokens: np.ndarray, start: int) -> float:
        torch = require_torch()
        self.net_.eval()
        total = 0.0
        with torch.no_grad():
            for b in range(0, len(rows), 4 * self.batch_size):
                s = slice(b, b + 4 * self.batch_size)
                total += float(self._loss(src_t, rows[s], tix[s], tokens[s], start)) * len(rows[s])
        self.net_.train()
        return total / max(1, len(rows))

    def _calibrate(self, src: np.ndarray, rows: np.ndarray, tix: np.ndarray, logv: np.ndarray, rule: str) -> dict:
        """Per target: the conformal correction of the served interval (log space) on held-out rows."""
        out: dict[str, Any] = {}
        for j, target in enumerate(self.targets_):
            sel = tix == j
            if sel.sum() < 20:
                out[target] = {"correction": 0.0, "rule": rule, "n_cal": int(sel.sum()),
                               "note": "fewer than 20 held-out rows: interval not conformalised"}  # fmt: skip
                continue
            point, lo, hi = self._quantile_logs(src[rows[sel]], j)
            z = logv[sel]
            correction = conformal_quantile(conformity_scores(z, lo, hi, point), self.coverage)
            out[target] = {"correction": float(correction), "rule": rule, "n_cal": int(sel.sum()),
                           "raw_coverage": float(np.mean((z >= lo) & (z <= hi))),
                           "median_ape": float(np.median(np.abs(np.exp(point - z) - 1.0)) * 100)}  # fmt: skip
        return out

    def update(self, frame: pd.DataFrame, epochs: int | None = None) -> TextCostModel:
        """Train on new measurements for `update_epochs` (or `epochs`) at a third of the learning rate;
        the vocabulary and the interval's corrections stay (tokens never seen become `<unk>`)."""
        self._check_fitted()
        frame = frame.reset_index(drop=True)
        src = self._encode_texts(record_texts(frame, self.include_ir))
        rows, tix, tokens, _ = self._examples(frame)
        if len(rows) == 0:
            raise ValueError(f"no measured {self.targets_} in the update's rows")
        history = self._train(src, rows, tix, tokens, epochs or self.update_epochs, self.learning_rate / 3)
        self.info_.setdefault("updates", []).append({"n_rows": len(frame), "history": history})
        return self

    # ---- prediction ---------------------------------------------------------------------------------
    def _quantile_logs(self, src: np.ndarray, target: int, chunk_rows: int = 2048) -> tuple[np.ndarray, ...]:
        """(median, lower, upper) log values of one target's decoded distribution per row: the
        central `coverage` interval's quantiles, each decoded digit by digit (`_ORDER`)."""
        torch = require_torch()
        device, net = self.device_, self.net_
        half = (1.0 - self.coverage) / 2.0
        levels = (0.5, half, 1.0 - half)
        order = torch.as_tensor(_ORDER, device=device)
        out = np.empty((len(levels), len(src)))
        net.eval()
        with torch.no_grad():
            for b in range(0, len(src), chunk_rows):
                s = torch.as_tensor(src[b : b + chunk_rows], device=device)
                s = s[:, : max(1, int((s != PAD).sum(1).max()))]
                memory, pad = net.encode(s)
                n = len(s)
                # every level decodes at once: rows repeated per level
                memory, pad = memory.repeat(len(levels), 1, 1), pad.repeat(len(levels), 1)
                q = torch.as_tensor(np.repeat(levels, n), dtype=torch.float64, device=device)
                seq = torch.full((len(memory), 1), len(OUT_TOKENS) + target, dtype=torch.long, device=device)
                negative = torch.zeros(len(memory), dtype=torch.bool, device=device)
                for pos in range(OUT_LEN):
                    probs = torch.softmax(net.decode(memory, pad, seq)[:, -1].double(), -1)
                    # the tokens of this position in the order of the numbers they lead to
                    perm = order[pos].expand(len(memory), -1).clone()
                    if 0 < pos < _MANTISSA:  # a negative exponent's larger digits are smaller numbers
                        perm[negative] = order[pos].flip(0)
                    ordered = probs.gather(1, perm)
                    cum = ordered.cumsum(1)
                    target_mass = (q.clamp(1e-9, 1.0) * cum[:, -1])[:, None]
                    idx = torch.searchsorted(cum, target_mass).clamp(max=perm.shape[1] - 1)
                    token = perm.gather(1, idx)
                    mass = ordered.gather(1, idx)[:, 0]
                    before = cum.gather(1, idx)[:, 0] - mass
                    q = ((target_mass[:, 0] - before) / mass.clamp(min=1e-300)).clamp(0.0, 1.0)
                    if pos == 0:
                        negative = token[:, 0] == _SIGN["-"]
                    seq = torch.cat([seq, token], 1)
                values = decode_value(seq[:, 1:].cpu().numpy())
                out[:, b : b + n] = np.log(np.clip(values, _MIN_VALUE, _MAX_VALUE)).reshape(len(levels), n)
        return out[0], out[1], out[2]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Query rows -> `pred.<target>` (the median of the decoded distribution) and its conformalised
        `.q10` / `.q90`, for every target the model learned; same rows and index as `frame`."""
        self._check_fitted()
        src = self._encode_texts(record_texts(frame.reset_index(drop=True), self.include_ir))
        out: dict[str, np.ndarray] = {}
        lo_name, hi_name = _quantile_names(self.coverage)
        for j, target in enumerate(self.targets_):
            point, lo, hi = self._quantile_logs(src, j)
            lo, hi = apply_correction(lo, hi, self.calibration_[target]["correction"], point)
            out[f"pred.{target}"] = np.exp(point)
            out[f"pred.{target}.{lo_name}"] = np.exp(lo)
            out[f"pred.{target}.{hi_name}"] = np.exp(hi)
        return pd.DataFrame(out, index=frame.index)

    # ---- persistence ----------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """`text_model.json` (hyperparameters, vocabulary, calibration, training record) and
        `weights.npz` (float32 tensors, read back without pickle)."""
        self._check_fitted()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION, "kind": "text", "hyperparameters": self.get_params(),
            "targets": self.targets_, "vocab": list(self.vocab_), "calibration": self.calibration_, "info": self.info_,
        }  # fmt: skip
        (out / "text_model.json").write_text(json.dumps(meta, indent=1, default=json_default))
        weights = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        np.savez(out / "weights.npz", **weights)
        return out

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> TextCostModel:
        """A model saved by `save` (on `device`: "auto" = CUDA when available)."""
        torch = require_torch()
        path = Path(directory)
        meta_path = path / "text_model.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{path} has no text_model.json: not a saved TextCostModel")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} (this build reads {FORMAT_VERSION})")
        model = cls(**{**meta["hyperparameters"], "device": device})
        model.targets_ = list(meta["targets"])
        model.vocab_ = {t: i for i, t in enumerate(meta["vocab"])}
        model.calibration_ = meta["calibration"]
        model.info_ = meta["info"]
        model.device_ = model._torch_device()
        model.net_ = _network(len(model.vocab_), len(model.targets_), model.d_model, model.n_heads, model.n_layers,
                              model.dim_ff, model.dropout, model.max_tokens)  # fmt: skip
        with np.load(path / "weights.npz", allow_pickle=False) as npz:
            state = {k: torch.as_tensor(npz[k]) for k in npz.files}
        model.net_.load_state_dict(state)
        model.net_.to(model.device_).eval()
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError("TextCostModel is not fitted: call fit(frame) or TextCostModel.load(dir) first")


def _quantile_names(coverage: float) -> tuple[str, str]:
    half = (1.0 - coverage) / 2.0
    return f"q{round(half * 100):02d}", f"q{round((1.0 - half) * 100):02d}"
