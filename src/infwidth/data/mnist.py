"""MNIST loader: the shared ``mnist/mnist.npz`` (data README section 5) or the original idx files.

Returns ``(images uint8 (N, 28, 28), labels int64 (N,))``. In the shared copy the test set is exact and
the train images are a reconstruction at most one grey level off (README); original idx files
(``train-images-idx3-ubyte[.gz]`` etc. in ``mnist/`` of the data folder) are preferred when present.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from infwidth.data.paths import candidate_data_dirs, data_file
from infwidth.errors import InfwidthError

NPZ_FILE = "mnist/mnist.npz"
IDX = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
       "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Parse an idx file (optionally gzipped): big-endian magic, dims, then uint8 data."""
    p = Path(path)
    raw = gzip.open(p, "rb").read() if p.suffix == ".gz" else p.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise InfwidthError(f"{p} is not an unsigned-byte idx file.")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise InfwidthError(f"{p} is truncated: expected {int(np.prod(dims))} values, found {data.size}.")
    return data.reshape(dims)


def _find_idx(name: str, data_dir: str | os.PathLike[str] | None) -> Path | None:
    for d in candidate_data_dirs(data_dir):
        for suffix in ("", ".gz"):
            p = d / "mnist" / (name + suffix)
            if p.is_file():
                return p
    return None


def load_mnist(split: str = "train", data_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` ("train" or "test") as (uint8 (N, 28, 28), int64 (N,))."""
    if split not in IDX:
        raise InfwidthError(f"split must be 'train' or 'test', got {split!r}.")
    img, lab = (_find_idx(n, data_dir) for n in IDX[split])
    if img is not None and lab is not None:
        return read_idx(img), read_idx(lab).astype(np.int64)
    src = data_file(NPZ_FILE, data_dir=data_dir, dataset="mnist", original=True)
    if src.is_dir():  # the original idx files, just downloaded (infwidth.data.download)
        img, lab = (src / f"{n}.gz" for n in IDX[split])
        return read_idx(img), read_idx(lab).astype(np.int64)
    d = np.load(src)
    x = d["x_train_approx"] if split == "train" else d["x_test"]
    return x, d[f"y_{split}"].astype(np.int64)
