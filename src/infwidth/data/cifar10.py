"""CIFAR-10 loaders: the shared JPEG re-encoding (data README section 4) and the original python batches.

Both return ``(images uint8 (N, 32, 32, 3), labels int64 (N,))``. The JPEG copy is decoded once with
Pillow and cached (``cifar10_jpeg_<split>.npz`` in the cache directory); the decoded arrays are checked
against the README's sha256 (a different libjpeg may decode a few pixels differently: then a warning).
The python batches (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``) are used when
``source="python"``, or with ``source="auto"`` when they are present in the data directory.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from infwidth.data.paths import cache_dir, candidate_data_dirs, data_file, sha256_file
from infwidth.errors import InfwidthError

JPEG_FILE = "cifar10_jpeg/cifar10_jpeg_bytes.npz"
DECODED_SHA256 = {
    "train": "bf3aabd52be912dae02a0435296c4dab5289524b57f55cd162dc4796935a611b",
    "test": "5a6aa8185204d80b65d3dfb540696dadd5f10d185ded226a96665d3e0fc6259f",
}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PY_DIR = "cifar-10-batches-py"


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise InfwidthError(f"split must be 'train' or 'test', got {split!r}.")


def find_python_batches(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``cifar-10-batches-py`` folder in the data directory (or under ``cifar10/``), or None."""
    for d in candidate_data_dirs(data_dir):
        for sub in (Path(PY_DIR), Path("cifar10") / PY_DIR):
            if (d / sub / "test_batch").is_file():
                return d / sub
    return None


def load_python_batches(folder: str | os.PathLike[str], split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Read the original CIFAR-10 python pickles: rows of 3072 bytes (R, G, B planes of 32x32)."""
    _check_split(split)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for name in names:
        p = Path(folder) / name
        if not p.is_file():
            raise InfwidthError(f"CIFAR-10 batch {p} is missing; extract cifar-10-python.tar.gz completely.")
        with open(p, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def decode_jpeg_npz(path: str | os.PathLike[str], split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Decode the JPEG bytes of the shared npz (README section 4) with Pillow."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InfwidthError("decoding the CIFAR-10 JPEG copy needs Pillow: pip install pillow.") from e
    d = np.load(path)
    j, o = d[f"{split}_jpeg"], d[f"{split}_offsets"]
    x = np.stack([np.asarray(Image.open(io.BytesIO(j[o[i]:o[i + 1]].tobytes())).convert("RGB"))
                  for i in range(len(o) - 1)])
    return x, d[f"{split}_labels"].astype(np.int64)


def load_cifar10(split: str = "train", data_dir: str | os.PathLike[str] | None = None, source: str = "auto",
                 cache: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` as (uint8 images (N, 32, 32, 3), int64 labels (N,)).

    ``source``: "python" (original batches), "jpeg" (shared lossy copy), or "auto" (python if present).
    """
    _check_split(split)
    if source not in ("auto", "python", "jpeg"):
        raise InfwidthError(f"source must be auto, python or jpeg, got {source!r}.")
    if source in ("auto", "python"):
        folder = find_python_batches(data_dir)
        if folder is not None:
            return load_python_batches(folder, split)
        if source == "python":  # missing: downloaded with $INFWIDTH_DOWNLOAD=1, else an error naming the command
            return load_python_batches(data_file(f"{PY_DIR}/test_batch", data_dir=data_dir, dataset="cifar10").parent,
                                       split)
    src = data_file(JPEG_FILE, data_dir=data_dir, dataset="cifar10", original=source == "auto")
    if src.is_dir():  # the original python batches stand in for the missing JPEG copy
        return load_python_batches(src, split)
    cached = cache_dir(cache) / f"cifar10_jpeg_{split}_{sha256_file(src)[:12]}.npz"
    if cached.is_file():
        d = np.load(cached)
        return d["x"], d["y"]
    x, y = decode_jpeg_npz(src, split)
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
    if digest != DECODED_SHA256[split]:
        warnings.warn(f"decoded CIFAR-10 {split} pixels differ from the README's reference decode "
                      f"(sha256 {digest[:12]}...); another libjpeg version decodes slightly differently.",
                      stacklevel=2)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, x=x, y=y)
    os.replace(tmp, cached)
    return x, y


def cifar10_features(split: str = "train", data_dir: str | os.PathLike[str] | None = None, source: str = "auto",
                     cache: str | os.PathLike[str] | None = None, n: int | None = None,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened float32 inputs (N, 3072) standardized per channel with the train statistics, and labels.

    ``n`` keeps a random subset of that size (fixed by ``seed``), stratification-free.
    """
    x, y = load_cifar10(split, data_dir, source, cache)
    xtr, _ = (x, y) if split == "train" else load_cifar10("train", data_dir, source, cache)
    mean = xtr.reshape(-1, 3).mean(0) / 255.0
    std = xtr.reshape(-1, 3).std(0) / 255.0
    if n is not None and n < len(x):
        idx = np.random.default_rng(seed).choice(len(x), size=n, replace=False)
        x, y = x[idx], y[idx]
    feats = ((x.astype(np.float32) / 255.0 - mean) / std).reshape(len(x), -1).astype(np.float32)
    return feats, y
