"""Omniglot few-shot data: split hygiene, rotation classes, determinism, resize, folder loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from infwidth.data.omniglot import SIDE, TaskSampler, load_omniglot, load_omniglot_folders, resize28
from infwidth.errors import InfwidthError

NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot" / "omniglot.npz"


@pytest.fixture(scope="module")
def raw() -> dict[str, np.ndarray]:
    """The first 3 characters of the raw npz (105x105 bool) and its metadata."""
    if not NPZ.exists():
        pytest.skip("raw omniglot.npz not at ../shared/data")
    z = np.load(NPZ)
    return {"images": z["images"][:3], "alphabets": z["alphabets"], "char_alphabet": z["char_alphabet"],
            "char_id": z["char_id"]}


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    try:
        return load_omniglot()
    except InfwidthError as e:  # pragma: no cover - data not installed
        pytest.skip(str(e))


def test_vinyals_split_sizes_and_disjoint(data) -> None:  # type: ignore[no-untyped-def]
    assert [int((data.split == s).sum()) for s in range(3)] == [1028, 172, 423]
    # torchmeta's split files agree with the npz column (independent source: the JSON lists)
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot" / "torchmeta_vinyals_split"
    if root.is_dir():
        for code, name in enumerate(["train", "val", "test"]):
            listed = {f"{a}/{c}" for alph in json.load(open(root / f"{name}.json")).values()
                      for a, cs in alph.items() for c in cs}
            assert listed == {n for n, s in zip(data.names, data.split) if s == code}


def test_sampler_never_mixes_split_classes(data) -> None:  # type: ignore[no-untyped-def]
    rows = {s: np.flatnonzero(data.split == i) for i, s in enumerate(["train", "val", "test"])}
    for split, rot in [("train", True), ("val", True), ("test", False)]:
        imgs = data.split_images(split)
        sampler = TaskSampler(imgs, rotations=rot, seed=3)
        b = sampler.batch(0, 200)
        chars = rows[split][b.classes[..., 0].ravel()]
        assert set(data.split[chars]) == {["train", "val", "test"].index(split)}
        # every support/query image is an image (possibly rotated) of its class's character in this split
        for t in range(5):
            for j, (c, k) in enumerate(b.classes[t]):
                base = np.rot90(imgs[c], k=int(k), axes=(1, 2)).reshape(imgs.shape[1], -1) / 255.0
                for x in (b.xs[t, j].numpy(), b.xq[t, j].numpy()):
                    assert np.isclose(np.abs(base - x).sum(1), 0).any()
        if not rot:
            assert (b.classes[..., 1] == 0).all()


def test_rotations_are_distinct_classes(data) -> None:  # type: ignore[no-untyped-def]
    sampler = TaskSampler(data.split_images("train"), rotations=True, seed=0)
    assert sampler.n_classes == 4 * 1028
    b = sampler.batch(0, 300)
    for cls in b.classes:
        assert len({(int(c), int(k)) for c, k in cls}) == 5          # distinct (character, rotation) classes
    assert set(b.classes[..., 1].ravel()) == {0, 1, 2, 3}
    # a character's 4 rotations are different images, hence genuinely different classes
    img = data.split_images("train")[0, 0]
    rots = [np.rot90(img, k) for k in range(4)]
    assert all(not np.array_equal(rots[i], rots[j]) for i in range(4) for j in range(i + 1, 4))
    # a task holding one character in two rotations gives them different labels (and different images)
    shared = [t for t, cls in enumerate(b.classes) if len(set(cls[:, 0].tolist())) < 5]
    for t in shared:
        chars = b.classes[t, :, 0].tolist()
        j1, j2 = [j for j in range(5) if chars.count(chars[j]) > 1][:2]
        assert not torch.equal(b.xs[t, j1], b.xs[t, j2]) or b.classes[t, j1, 1] != b.classes[t, j2, 1]


def test_sampler_deterministic_by_seed(data) -> None:  # type: ignore[no-untyped-def]
    imgs = data.split_images("val")
    a = TaskSampler(imgs, rotations=True, seed=7).batch(10, 4)
    b = TaskSampler(imgs, rotations=True, seed=7).batch(10, 4)
    c = TaskSampler(imgs, rotations=True, seed=8).batch(10, 4)
    assert torch.equal(a.xs, b.xs) and torch.equal(a.xq, b.xq) and np.array_equal(a.classes, b.classes)
    assert not np.array_equal(a.classes, c.classes)
    # task i does not depend on how tasks are batched
    d = TaskSampler(imgs, rotations=True, seed=7).batch(12, 1)
    assert torch.equal(a.xs[2], d.xs[0])


def test_resize_matches_torch_antialiased_bilinear(data, raw) -> None:  # type: ignore[no-untyped-def]
    x = torch.from_numpy(raw["images"][:3, :2].reshape(-1, 1, 105, 105).astype(np.float64) * 255)
    ref = torch.nn.functional.interpolate(x, size=(SIDE, SIDE), mode="bilinear", antialias=True, align_corners=False)
    ours = torch.from_numpy(data.images[:3, :2].reshape(-1, 1, SIDE, SIDE).astype(np.float64))
    assert (ours - ref).abs().max() <= 1.0 + 1e-9              # PIL rounds to uint8
    assert abs(float(ours.mean()) / 255 - 0.0805) < 0.01         # ink fraction (data README: 8.05%)


def test_rotation_commutes_with_resize(data) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    raw = np.zeros((105, 105), np.uint8)
    raw[10:60, 20:30] = 255
    raw[70:80, 5:100] = 255
    for k in range(4):
        rotated = np.asarray(Image.fromarray(raw).rotate(90 * k))   # torchmeta: rotate 105x105, then Resize
        assert np.array_equal(resize28(rotated), np.rot90(resize28(raw), k))


def test_folder_loader_matches_npz(data, raw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    split_dir = tmp_path / "split"
    split_dir.mkdir()
    picks = {"train": 0, "val": None, "test": None}
    alph = str(raw["alphabets"][raw["char_alphabet"][0]])
    for name in picks:
        content = {"background": {alph: ["character01"]} if name == "train" else {}, "evaluation": {}}
        (split_dir / f"{name}.json").write_text(json.dumps(content))
    char_dir = tmp_path / "images_background" / alph / "character01"
    char_dir.mkdir(parents=True)
    (tmp_path / "images_evaluation").mkdir()
    for j in range(20):  # official PNGs: 1 = white background, 0 = ink
        Image.fromarray(np.where(raw["images"][0, j], 0, 255).astype(np.uint8)).convert("1").save(
            char_dir / f"{int(raw['char_id'][0]):04d}_{j + 1:02d}.png")
    got = load_omniglot_folders(tmp_path, split_dir=split_dir)
    assert got.names == [f"{alph}/character01"] and list(got.split) == [0]
    assert np.array_equal(got.images[0], data.images[0])
