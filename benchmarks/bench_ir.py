"""Throughput of IR featurisation / normalisation / text serialisation, against the real parsers.

Builds a corpus of distinct IR texts (default 2,000, 5-50 KB each) by scaling the real-format samples in
`tests/data/ir/` (TTGIR, TTIR, LLVM IR, PTX: kernels repeated with distinct names and constants, so the
content-hash cache never hits), then prints medians and totals:

* `ir_feature_frame` on the whole corpus (cold cache) and on records sharing IR (10 records per kernel),
* `normalize_ir` and `serialize_record`,
* baselines measured in the same run: `str.split` (a floor), llvmlite `parse_assembly` on the LLVM texts
  and xDSL `parse_module` on generic-form MLIR of the same sizes (a subset: xDSL is pure Python).

    python benchmarks/bench_ir.py [--n 2000] [--xdsl-n 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from perfcast.features import ir as irmod
from perfcast.features.ir import ir_feature_frame, normalize_ir
from perfcast.features.text import count_tokens, serialize_record
from tqdm import tqdm

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "ir"


def _scale_mlir(text: str, copies: int, tag: int) -> str:
    """Repeat the body of the first function `copies` times, with distinct SSA names and constants."""
    lines = text.split("\n")
    start = next(i for i, ln in enumerate(lines) if "tt.func" in ln) + 1
    end = max(i for i, ln in enumerate(lines) if ln.strip().startswith("tt.return"))
    body = lines[start:end]
    out = lines[:start]
    for c in range(copies):
        out += [re.sub(r"%(\w+)", rf"%\1_{c}", ln).replace(" 127 : i32", f" {127 + tag + c} : i32") for ln in body]
    return "\n".join(out + lines[end:])


def _scale_llvm(text: str, copies: int, tag: int) -> str:
    head, _, rest = text.partition("; Function Attrs: nounwind\ndefine")
    fn, _, tail = ("define" + rest).partition("\n}\n")
    fns = [fn.replace("@matmul_kernel(", f"@matmul_kernel_{tag}_{c}(").replace(", 127,", f", {127 + c},")
           .replace(" !dbg !5 {", " {") + "\n}" for c in range(copies)]  # fmt: skip
    # metadata refers to @matmul_kernel: keep the original function too
    return head + "\n".join([fn + "\n}", *fns]) + "\n" + tail


def _scale_ptx(text: str, copies: int, tag: int) -> str:
    start = text.index(".visible .entry")
    end = text.index("\t.file")
    entry = text[start:end]
    parts = [entry.replace("matmul_kernel", f"matmul_kernel_{tag}_{c}").replace("127;", f"{127 + c};")
             for c in range(copies)]  # fmt: skip
    return text[:start] + "".join(parts) + text[end:]


def _scale_generic(text: str, copies: int, tag: int) -> str:
    lines = text.split("\n")
    fn_start = 1
    fn_end = len(lines) - 2  # `}) : () -> ()` of the module
    fn = "\n".join(lines[fn_start:fn_end])
    fns = [fn.replace('sym_name = "matmul"', f'sym_name = "matmul_{tag}_{c}"').replace("value = 64 :", f"value = {64 + c} :")
           for c in range(copies)]  # fmt: skip
    return "\n".join([lines[0], *fns, *lines[fn_end:]])


def build_corpus(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct (kind, text) pairs of 5-50 KB."""
    rng = random.Random(seed)
    src = {
        "ttgir": (DATA / "matmul_sm90.ttgir").read_text(),
        "ttir": (DATA / "matmul.ttir").read_text(),
        "llvm": (DATA / "matmul_sm80.ll").read_text(),
        "ptx": (DATA / "matmul_sm90.ptx").read_text(),
    }
    scale: dict[str, Callable[[str, int, int], str]] = {
        "ttgir": _scale_mlir, "ttir": _scale_mlir, "llvm": _scale_llvm, "ptx": _scale_ptx,
    }  # fmt: skip
    corpus: list[tuple[str, str]] = []
    kinds = list(src)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        target = rng.randint(5_000, 50_000)
        unit = len(scale[kind](src[kind], 1, 0))
        copies = max(1, round(target / unit))
        corpus.append((kind, scale[kind](src[kind], copies, i)))
    return corpus


def _time_each(fn: Callable[[str], object], texts: Sequence[str], desc: str) -> list[float]:
    out = []
    for t in tqdm(texts, desc=desc, unit="text", leave=False):
        t0 = time.perf_counter()
        fn(t)
        out.append(time.perf_counter() - t0)
    return out


def _report(name: str, times: list[float], nbytes: int) -> None:
    total = sum(times)
    print(f"{name:<44} median {statistics.median(times) * 1e3:8.3f} ms/text   total {total:7.2f} s   "
          f"{nbytes / total / 1e6:7.2f} MB/s")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="distinct IR texts in the corpus")
    ap.add_argument("--xdsl-n", type=int, default=40, help="generic-MLIR texts parsed by xDSL (slow)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    corpus = build_corpus(args.n, args.seed)
    texts = [t for _, t in corpus]
    sizes = [len(t) for t in texts]
    nbytes = sum(sizes)
    print(f"corpus: {len(texts)} distinct texts, {nbytes / 1e6:.1f} MB, size median {statistics.median(sizes) / 1e3:.1f} KB "
          f"(min {min(sizes) / 1e3:.1f}, max {max(sizes) / 1e3:.1f})")  # fmt: skip

    base = _time_each(str.split, texts, "str.split")
    _report("baseline str.split", base, nbytes)

    irmod._feature_cache.clear()
    t0 = time.perf_counter()
    frame = ir_feature_frame(texts, None, progress=True)
    t_frame = time.perf_counter() - t0
    print(f"{'ir_feature_frame (auto kind, cold cache)':<44} total {t_frame:7.2f} s for {len(texts)} texts   "
          f"{nbytes / t_frame / 1e6:7.2f} MB/s   {frame.shape[1]} columns")  # fmt: skip

    shared = [t for t in texts[: max(1, len(texts) // 10)] for _ in range(10)]
    irmod._feature_cache.clear()
    t0 = time.perf_counter()
    ir_feature_frame(shared, None)
    t_shared = time.perf_counter() - t0
    print(f"{'ir_feature_frame, 10 records per kernel':<44} total {t_shared:7.2f} s for {len(shared)} records")

    irmod._feature_cache.clear()
    feats = _time_each(lambda t: irmod._features_impl(t, None), texts, "features")
    _report("ir_features per text (uncached)", feats, nbytes)
    norm = _time_each(normalize_ir, texts, "normalize")
    _report("normalize_ir per text", norm, nbytes)
    rec = {"system": "NVIDIA H100 80GB HBM3", "kernel": "triton.matmul", "problem": {"M": 4096, "N": 4096, "K": 4096}}
    ser = _time_each(lambda t: serialize_record({**rec, "ir": {"ttgir": t}}, max_tokens=512), texts, "serialize")
    _report("serialize_record (512 tokens) per text", ser, nbytes)
    toks = [count_tokens(serialize_record({**rec, "ir": {"ttgir": t}}, max_tokens=10**9)) for t in texts[:50]]
    print(f"tokens in full serialised text (first 50): median {statistics.median(toks):.0f}")

    import llvmlite.binding as llvm  # noqa: PLC0415

    ll = [t for k, t in corpus if k == "llvm"]
    ll_parse = _time_each(lambda t: llvm.parse_assembly(t), ll, "llvmlite")
    ll_feat = [feats[i] for i, (k, _) in enumerate(corpus) if k == "llvm"]
    ll_bytes = sum(len(t) for t in ll)
    _report("baseline llvmlite parse_assembly (LLVM)", ll_parse, ll_bytes)
    _report("ir_features (LLVM subset)", ll_feat, ll_bytes)
    print(f"  ratio llvmlite parse / ir_features (median): {statistics.median(ll_parse) / statistics.median(ll_feat):.2f}")

    from xdsl.parser import Parser  # noqa: PLC0415

    ctx = irmod._xdsl_context()
    generic = (DATA / "matmul.generic.mlir").read_text()
    rng = random.Random(args.seed)
    gen_texts = []
    for i in range(args.xdsl_n):
        unit = len(_scale_generic(generic, 1, 0))
        gen_texts.append(_scale_generic(generic, max(1, round(rng.randint(5_000, 50_000) / unit)), i))
    g_bytes = sum(len(t) for t in gen_texts)
    xd = _time_each(lambda t: Parser(ctx, t).parse_module(), gen_texts, "xdsl")
    irmod._feature_cache.clear()
    xf = _time_each(lambda t: irmod._features_impl(t, "mlir"), gen_texts, "features mlir")
    _report("baseline xDSL parse_module (generic MLIR)", xd, g_bytes)
    _report("ir_features (same generic MLIR)", xf, g_bytes)
    print(f"  ratio xDSL parse / ir_features (median): {statistics.median(xd) / statistics.median(xf):.1f}")
    print(f"  projected xDSL time for {len(texts)} texts of this corpus: {nbytes / (g_bytes / sum(xd)):.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
