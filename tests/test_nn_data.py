"""Data loaders: directory resolution, checksums, formats (original CIFAR-10 pickles, MNIST idx)."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from infwidth.data import paths
from infwidth.data.cifar10 import load_cifar10, load_python_batches
from infwidth.data.mnist import load_mnist, read_idx
from infwidth.errors import InfwidthError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_resolution_order_flag_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "x").mkdir(parents=True)
        (d / "x" / "f.txt").write_text(d.name)
    monkeypatch.setenv(paths.ENV_DATA, str(b))
    assert paths.data_file("x/f.txt", verify=False).read_text() == "b"
    assert paths.data_file("x/f.txt", data_dir=a, verify=False).read_text() == "a"
    assert paths.candidate_data_dirs()[0] == b


def test_checksum_and_missing_file_errors(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "blob.bin"
    f.write_bytes(b"infwidth")
    good = hashlib.sha256(b"infwidth").hexdigest()
    assert paths.data_file("d/blob.bin", data_dir=tmp_path, sha256=good) == f
    with pytest.raises(InfwidthError, match="checksum mismatch"):
        paths.data_file("d/blob.bin", data_dir=tmp_path, sha256="0" * 64)
    with pytest.raises(InfwidthError, match=r"cs\.toronto\.edu"):
        load_cifar10("test", data_dir=tmp_path, source="python")
    with pytest.raises(InfwidthError, match="--data-dir"):
        load_mnist("test", data_dir=tmp_path)


def test_original_cifar10_python_batches(tmp_path: Path) -> None:
    """The pickles store R, G, B planes per row; the loader returns (N, 32, 32, 3) HWC images."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    rows = imgs.transpose(0, 3, 1, 2).reshape(3, 3072)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": rows, b"labels": [4, 0, 9]}, fh)
    x, y = load_python_batches(folder, "test")
    assert np.array_equal(x, imgs) and list(y) == [4, 0, 9]
    x2, _ = load_cifar10("test", data_dir=tmp_path, source="auto")  # auto prefers the original batches
    assert np.array_equal(x2, imgs)
    assert x[1, 0, 0, 0] == rows[1, 0] and x[1, 0, 0, 2] == rows[1, 2048]


def test_mnist_idx_files(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    imgs = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    with gzip.open(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + imgs.tobytes())
    labels = bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + b"\x07\x02"
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(labels)
    x, y = load_mnist("test", data_dir=tmp_path)
    assert np.array_equal(x, imgs) and list(y) == [7, 2]
    bad = tmp_path / "bad"
    bad.write_bytes(header + b"\x00" * 10)
    with pytest.raises(InfwidthError, match="truncated"):
        read_idx(bad)


@pytest.mark.skipif(not (SHARED / "mnist" / "mnist.npz").is_file(), reason="shared data folder not present")
def test_shared_mnist_test_set_has_the_official_label_counts() -> None:
    x, y = load_mnist("test", data_dir=SHARED)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not (SHARED / "cifar10_jpeg" / "cifar10_jpeg_bytes.npz").is_file(),
                    reason="shared data folder not present")
def test_shared_cifar10_jpeg_test_set(tmp_path: Path) -> None:
    x, y = load_cifar10("test", data_dir=SHARED, source="jpeg", cache=tmp_path)
    assert x.shape == (10000, 32, 32, 3) and np.bincount(y).tolist() == [1000] * 10
    # README: the decoded pixels hash to a fixed value with Pillow's libjpeg, and channel means ~ CIFAR-10's
    assert abs(x[..., 2].mean() / 255 - 0.4465) < 0.01
    x_cached, _ = load_cifar10("test", data_dir=SHARED, source="jpeg", cache=tmp_path)
    assert np.array_equal(x, x_cached) and any(tmp_path.iterdir())
