"""Omniglot few-shot data: loaders, a pre-resized 28x28 cache and a seeded task sampler.

Sources (data README, section 3):

* the shared ``omniglot/omniglot.npz`` (all 1623 characters x 20 drawers, 105x105 bool, True = ink,
  with the Vinyals train/val/test split of torchmeta 1.8.0 in ``vinyals_split``);
* the official ``images_background`` / ``images_evaluation`` folders of ``brendenlake/omniglot``
  (``<Alphabet>/characterNN/XXXX_YY.png``, 1 = white background), with the split taken from the
  torchmeta JSON files (``omniglot/torchmeta_vinyals_split/{train,val,test}.json``).

Preprocessing follows TP4's MAML code (``TP4MAML/meta/cached_omniglot.py``, ``maml/datasets.py``):
grey image with ink = 255, ``Resize(28)`` = PIL bilinear resize to 28x28, ``ToTensor`` (/255), flattened
to d = 784. The resized images are cached as uint8 (1623, 20, 28, 28) keyed by the source checksum.

Classes of a split are (character, rotation) pairs: with ``rotations=True`` (meta-train/val in TP4)
each character gives 4 classes rotated by 0/90/180/270 degrees. Rotating the 28x28 image equals
rotating the 105x105 image before the resize (the bilinear grid is symmetric; checked in the tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from infwidth.data.paths import cache_dir as _cache_dir
from infwidth.data.paths import data_file
from infwidth.errors import InfwidthError

NPZ = "omniglot/omniglot.npz"
NPZ_SHA256 = "480ac8ba9150ba6aaf3d814aec0d965aeed6920fb7ac7d06e7a354321cff8c4c"
SPLIT_JSON = "omniglot/torchmeta_vinyals_split/{}.json"
SPLITS = {"train": 0, "val": 1, "test": 2}
SIDE = 28
_LUT = torch.arange(256, dtype=torch.float64) / 255.0  # uint8 pixel -> [0, 1] (ToTensor)


def resolve_data_file(relative: str, data_dir: str | Path | None = None, sha256: str | None = None) -> Path:
    """Path of ``relative`` in the data directory (flag, then ``$INFWIDTH_DATA``, then ``../shared/data``),
    sha256-verified (:func:`infwidth.data.paths.data_file`); InfwidthError when missing or corrupt."""
    return data_file(relative, data_dir=data_dir, sha256=sha256)


def resize28(image_ink: np.ndarray) -> np.ndarray:
    """TP4's ``Resize(28)``: a (105, 105) image with ink > 0 -> uint8 (28, 28), ink = 255, PIL bilinear."""
    from PIL import Image

    arr = np.asarray(image_ink)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return np.asarray(Image.fromarray(arr.astype(np.uint8), mode="L").resize((SIDE, SIDE), Image.Resampling.BILINEAR))


@dataclass
class Omniglot28:
    """All of Omniglot resized: ``images`` uint8 (n_chars, 20, 28, 28), ink = 255; ``split`` int8 (n_chars,).

    ``split`` holds 0/1/2 = Vinyals train/val/test; ``names`` the "Alphabet/characterNN" of each row.
    """

    images: np.ndarray
    split: np.ndarray
    names: list[str]

    def split_images(self, split: str) -> np.ndarray:
        """The uint8 images (n, 20, 28, 28) of the characters in ``split`` ('train', 'val' or 'test')."""
        if split not in SPLITS:
            raise InfwidthError(f"unknown Omniglot split {split!r}; use one of train, val, test.")
        return self.images[self.split == SPLITS[split]]


def _resize_all(images: np.ndarray) -> np.ndarray:
    out = np.empty(images.shape[:-2] + (SIDE, SIDE), dtype=np.uint8)
    for idx in np.ndindex(*images.shape[:-2]):
        out[idx] = resize28(images[idx])
    return out


def load_omniglot(data_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                  use_cache: bool = True) -> Omniglot28:
    """Load the shared ``omniglot.npz`` resized to 28x28 (cached in ``cache_dir``, default ~/.cache/infwidth).

    The cache file name carries the npz checksum, so a changed source is never read from a stale cache.
    When the npz is absent, the original PNG folders (``infwidth data download omniglot``) are read instead
    (:func:`load_omniglot_folders`, not cached).
    """
    path = data_file(NPZ, data_dir, sha256=NPZ_SHA256, original=True)   # verifies the checksum
    if path.is_dir():  # the original-source copy: images_background/, images_evaluation/, the split JSONs
        return load_omniglot_folders(path, split_dir=path / "torchmeta_vinyals_split")
    digest = NPZ_SHA256
    z = np.load(path)
    alphabets = [str(a) for a in z["alphabets"]]
    names = [f"{alphabets[a]}/character{i:02d}" for a, i in zip(z["char_alphabet"], z["char_index"])]
    split = z["vinyals_split"].astype(np.int8)
    cache = _cache_dir(cache_dir) / f"omniglot28_{digest[:16]}.npy"
    if use_cache and cache.is_file():
        return Omniglot28(np.load(cache), split, names)
    images = _resize_all(z["images"])
    if use_cache:
        from infwidth.io import atomic_open

        with atomic_open(cache, "wb") as f:
            np.save(f, images)
    return Omniglot28(images, split, names)


def load_omniglot_folders(root: str | Path, split_dir: str | Path | None = None,
                          data_dir: str | Path | None = None) -> Omniglot28:
    """Load the official ``images_background`` + ``images_evaluation`` PNG folders under ``root``.

    The Vinyals split comes from torchmeta's JSON files in ``split_dir`` (default: the shared
    ``omniglot/torchmeta_vinyals_split``). Characters must have 20 drawings each.
    """
    from PIL import Image

    root = Path(root)
    if split_dir is None:
        split_dir = resolve_data_file(SPLIT_JSON.format("train"), data_dir).parent
    membership: dict[tuple[str, str, str], int] = {}
    for name, code in SPLITS.items():
        with open(Path(split_dir) / f"{name}.json", encoding="utf-8") as f:
            for folder, alphabets in json.load(f).items():
                for alphabet, chars in alphabets.items():
                    for c in chars:
                        membership[(f"images_{folder}", alphabet, c)] = code
    images, split, names = [], [], []
    for folder in ("images_background", "images_evaluation"):
        base = root / folder
        if not base.is_dir():
            raise InfwidthError(f"{base} is not a folder; pass the directory holding images_background and "
                                "images_evaluation (unzipped from brendenlake/omniglot).")
        for alph in sorted(p for p in base.iterdir() if p.is_dir()):
            for char in sorted(p for p in alph.iterdir() if p.is_dir()):
                pngs = sorted(char.glob("*.png"))
                key = (folder, alph.name, char.name)
                if len(pngs) != 20 or key not in membership:
                    raise InfwidthError(f"{char} has {len(pngs)} drawings or is not in the Vinyals split; "
                                        "use the unmodified official Omniglot folders.")
                ink = [255 - np.asarray(Image.open(p).convert("L")) for p in pngs]  # invert: ink = 255
                images.append(np.stack([resize28(a) for a in ink]))
                split.append(membership[key])
                names.append(f"{alph.name}/{char.name}")
    return Omniglot28(np.stack(images), np.array(split, dtype=np.int8), names)


@dataclass
class TaskBatch:
    """A batch of N-way K-shot tasks: support ``xs`` (B, N*K, 784), ``ys`` (B, N*K) in 0..N-1, query
    ``xq`` (B, N*Q, 784), ``yq`` (B, N*Q); ``classes`` (B, N, 2) the (character row, rotation k) pairs."""

    xs: torch.Tensor
    ys: torch.Tensor
    xq: torch.Tensor
    yq: torch.Tensor
    classes: np.ndarray


class TaskSampler:
    """Seeded sampler of N-way K-shot tasks over the characters of one split.

    ``images`` uint8 (n_chars, n_drawers, 28, 28). Classes are (character, rotation) pairs, 4 per
    character with ``rotations`` (rotation by k * 90 degrees, k = 0..3), else 1. Task ``i`` is a pure
    function of (seed, i): ``N`` distinct classes, and for each ``K + Q`` distinct drawers, the first K
    the support and the rest the query; labels 0..N-1 in the order the classes were drawn.
    """

    def __init__(self, images: np.ndarray, ways: int = 5, shots: int = 1, queries: int = 1,
                 rotations: bool = False, seed: int = 0, dtype: torch.dtype = torch.float64) -> None:
        n_rot = 4 if rotations else 1
        if images.ndim != 4 or ways > images.shape[0] * n_rot or shots + queries > images.shape[1]:
            raise InfwidthError(f"cannot draw {ways}-way {shots}+{queries}-shot tasks from images of shape "
                                f"{images.shape}; lower ways or shots.")
        self.images, self.ways, self.shots, self.queries = images, ways, shots, queries
        self.n_rot, self.seed, self.dtype = n_rot, seed, dtype

    @property
    def n_classes(self) -> int:
        """Number of classes: characters times rotations."""
        return int(self.images.shape[0]) * self.n_rot

    def task_classes(self, index: int) -> np.ndarray:
        """The (character row, rotation k) pairs (N, 2) of task ``index``."""
        rng = np.random.default_rng([self.seed, index])
        cls = rng.choice(self.n_classes, size=self.ways, replace=False)
        return np.stack([cls // self.n_rot, cls % self.n_rot], axis=1)

    def batch(self, start: int, size: int) -> TaskBatch:
        """Tasks ``start .. start+size-1`` as tensors (see :class:`TaskBatch`), pixels in [0, 1]."""
        k, q, n = self.shots, self.queries, self.ways
        xs = np.empty((size, n * k, SIDE, SIDE), np.uint8)
        xq = np.empty((size, n * q, SIDE, SIDE), np.uint8)
        classes = np.empty((size, n, 2), np.int64)
        for b in range(size):
            rng = np.random.default_rng([self.seed, start + b, 1])
            cls = self.task_classes(start + b)
            classes[b] = cls
            for j, (char, rot) in enumerate(cls):
                drawers = rng.choice(self.images.shape[1], size=k + q, replace=False)
                imgs = np.rot90(self.images[char, drawers], k=int(rot), axes=(1, 2))
                xs[b, j * k:(j + 1) * k] = imgs[:k]
                xq[b, j * q:(j + 1) * q] = imgs[k:]
        ys = torch.arange(n).repeat_interleave(k).expand(size, -1).clone()
        yq = torch.arange(n).repeat_interleave(q).expand(size, -1).clone()

        def to_t(a: np.ndarray) -> torch.Tensor:
            return _LUT.to(self.dtype)[torch.from_numpy(a.reshape(size, a.shape[1], SIDE * SIDE)).long()]

        return TaskBatch(to_t(xs), ys, to_t(xq), yq, classes)
