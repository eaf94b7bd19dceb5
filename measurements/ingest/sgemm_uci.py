"""UCI "SGEMM GPU kernel performance" (CLTune `gemm_fast` on a GTX 680) -> `cltune.sgemm` records.

Source columns: 14 tuning parameters (MWG ... SB) and `Run1 (ms)` ... `Run4 (ms)`. Each row becomes
one record: problem M=N=K=2048 fp32 (the dataset's only problem), the four runs as `runtime_ms_samples`
and `runtime_ms` = their median (robust to one slow run; with 4 runs it is the mean of the middle two).
The zip (`sgemm_product_dataset.zip`) or the extracted `sgemm_product.csv` are accepted.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
from perfcast.measurements.ingest._common import IngestChunk, IngestError, canonical_system, list_column
from perfcast.measurements.validate import LINE_COLUMN

PARAMS = ("MWG", "NWG", "KWG", "MDIMC", "NDIMC", "MDIMA", "NDIMB", "KWI", "VWM", "VWN", "STRM", "STRN", "SA", "SB")
RUNS = ("Run1 (ms)", "Run2 (ms)", "Run3 (ms)", "Run4 (ms)")
MEMBER = "sgemm_product.csv"
SYSTEM = "NVIDIA GeForce GTX 680"
PROBLEM_SIZE = 2048


def sniff(path: Path, head: bytes) -> bool:
    """Zip holding `sgemm_product.csv`, or a CSV with the dataset's header."""
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                return any(Path(n).name == MEMBER and "__MACOSX" not in n for n in zf.namelist())
        except zipfile.BadZipFile:
            return False
    return head.startswith(b"MWG,NWG,KWG") and b"Run1 (ms)" in head


def _read_bytes(path: Path) -> bytes:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if Path(n).name == MEMBER and "__MACOSX" not in n]
            if not names:
                raise IngestError(f"{path}: no {MEMBER} in the zip")
            return zf.read(names[0])
    return path.read_bytes()


def to_frame(table: pd.DataFrame, source: str, first_line: int = 2) -> pd.DataFrame:
    """Source columns -> canonical flat frame (vectorised)."""
    missing = [c for c in (*PARAMS, *RUNS) if c not in table.columns]
    if missing:
        raise IngestError(f"SGEMM UCI file lacks columns {missing}")
    n = len(table)
    runs = table[list(RUNS)].to_numpy(dtype=np.float64)
    columns: dict[str, object] = {"kernel": np.full(n, "cltune.sgemm", dtype=object)}
    for p in PARAMS:
        columns[f"params.{p}"] = table[p].to_numpy()
    columns.update({"problem.M": np.full(n, PROBLEM_SIZE), "problem.N": np.full(n, PROBLEM_SIZE),
                    "problem.K": np.full(n, PROBLEM_SIZE), "problem.dtype": np.full(n, "fp32", dtype=object),
                    "problem.a_layout": np.full(n, "row", dtype=object),
                    "problem.b_layout": np.full(n, "row", dtype=object),
                    "system": np.full(n, canonical_system(SYSTEM), dtype=object),
                    "runtime_ms": np.median(runs, axis=1), "runtime_ms_samples": list_column(runs).array,
                    "status": np.full(n, "ok", dtype=object), "source": np.full(n, source, dtype=object),
                    LINE_COLUMN: np.arange(first_line, first_line + n)})
    frame = pd.DataFrame(columns)
    return frame


def read(path: Path, *, chunk_rows: int = 262144) -> Iterator[IngestChunk]:
    """Yield canonical chunks of the SGEMM UCI file."""
    data = _read_bytes(path)
    table = pacsv.read_csv(io.BytesIO(data)).to_pandas()
    source = f"sgemm_uci:{path.name}"
    for start in range(0, len(table), chunk_rows):
        part = table.iloc[start:start + chunk_rows].reset_index(drop=True)
        yield IngestChunk(to_frame(part, source, first_line=2 + start), file=str(path))
