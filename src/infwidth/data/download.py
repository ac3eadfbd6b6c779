"""Downloading the data sets from their original public sources (when a network exists).

A registry :data:`DATASETS` names, for every data set, the original URLs, their pinned checksums
(md5 or sha256) and where each file lands inside the data directory, in the layout the loaders of
:mod:`infwidth.data` read when the shared copy is absent:

* ``text8``: ``text8`` (mattmahoney.net ``text8.zip``, unzipped; 100,000,000 bytes);
* ``questions-words``: ``questions-words/questions-words.txt`` (word2vec's copy, same sha256 as the shared one);
* ``omniglot``: ``omniglot/images_background/``, ``omniglot/images_evaluation/`` (brendenlake/omniglot) and
  ``omniglot/torchmeta_vinyals_split/{train,val,test}.json`` (torchmeta's split files, same sha256 as shared);
* ``cifar10``: ``cifar-10-batches-py/`` (the python batches from cs.toronto.edu);
* ``mnist``: ``mnist/*-idx?-ubyte.gz`` (the four idx files, from the mirror torchvision uses).

:func:`download` streams each file into a temporary file next to its destination, verifies the checksum
before anything is extracted or renamed into place, removes a corrupt download, and never replaces an
existing verified file unless ``force=True``. :func:`provide` is what the loaders call: the data directory
holding a complete copy, downloading one first when ``$INFWIDTH_DOWNLOAD`` is ``1``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from infwidth.data.paths import ENV_DATA, candidate_data_dirs, file_digest, sha256_file
from infwidth.errors import InfwidthError

ENV_DOWNLOAD = "INFWIDTH_DOWNLOAD"
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Remote:
    """One file of an original source.

    ``url``: where it is fetched; ``path``: where the file lands, relative to the data directory (for an
    archive: the name it has while downloading; it is removed after extraction); ``md5`` / ``sha256``:
    the pinned checksum (None = not pinned); ``extract_to``: for an archive (.zip, .tar.gz), the folder
    relative to the data directory it is extracted into (None = a plain file kept as is); ``outputs``:
    for an archive, the paths (relative to the data directory) it yields; ``sizes``: expected byte sizes
    of some outputs, checked after extraction (used when no checksum is pinned).
    """

    url: str
    path: str
    md5: str | None = None
    sha256: str | None = None
    extract_to: str | None = None
    outputs: tuple[str, ...] = ()
    sizes: tuple[tuple[str, int], ...] = ()

    @property
    def produces(self) -> tuple[str, ...]:
        """The paths (relative to the data directory) this file provides once downloaded."""
        return self.outputs if self.extract_to is not None else (self.path,)


@dataclass(frozen=True)
class DataSet:
    """A data set as published by its original source.

    ``main``: the path (relative to the data directory, a file or a folder) the loaders read;
    ``remotes``: the files to fetch; ``page``: a human-readable page about the source.
    """

    name: str
    description: str
    main: str
    remotes: tuple[Remote, ...]
    page: str

    @property
    def outputs(self) -> tuple[str, ...]:
        """All paths (relative to the data directory) a complete copy holds."""
        return tuple(p for r in self.remotes for p in r.produces)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_TORCHMETA = "https://raw.githubusercontent.com/tristandeleu/pytorch-meta/master/torchmeta/datasets/assets/omniglot/"
_OMNIGLOT = "https://github.com/brendenlake/omniglot/raw/master/python/"

#: the original public sources, by data-set name.
DATASETS: dict[str, DataSet] = {
    "text8": DataSet(
        "text8", "Matt Mahoney's text8 corpus (first 10^8 bytes of cleaned English Wikipedia, 2006)", "text8",
        (Remote("http://mattmahoney.net/dc/text8.zip", "text8.zip", extract_to=".", outputs=("text8",),
                sizes=(("text8", 100_000_000),)),),
        "http://mattmahoney.net/dc/textdata.html"),
    "questions-words": DataSet(
        "questions-words", "Google word-analogy test set (19,544 questions)", "questions-words/questions-words.txt",
        (Remote("https://raw.githubusercontent.com/tmikolov/word2vec/master/questions-words.txt",
                "questions-words/questions-words.txt",
                sha256="8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"),),
        "https://github.com/tmikolov/word2vec"),
    "omniglot": DataSet(
        "omniglot", "Omniglot PNG folders (1623 characters x 20 drawers) and torchmeta's Vinyals split", "omniglot",
        (Remote(_OMNIGLOT + "images_background.zip", "omniglot/images_background.zip",
                md5="68d2efa1b9178cc56df9314c21c6e718", extract_to="omniglot",
                outputs=("omniglot/images_background",)),
         Remote(_OMNIGLOT + "images_evaluation.zip", "omniglot/images_evaluation.zip",
                md5="6b91aef0f799c5bb55b94e3f2daec811", extract_to="omniglot",
                outputs=("omniglot/images_evaluation",)),
         Remote(_TORCHMETA + "train.json", "omniglot/torchmeta_vinyals_split/train.json",
                sha256="3432d95c10f2959c3894a2bebe63f70600b5c567a912d13200699b0634d7b191"),
         Remote(_TORCHMETA + "val.json", "omniglot/torchmeta_vinyals_split/val.json",
                sha256="4aca6cbef626e818dace533b4c46363830eaaa158f2d06e29beb3e9772258d5f"),
         Remote(_TORCHMETA + "test.json", "omniglot/torchmeta_vinyals_split/test.json",
                sha256="c3604a268c3e6bfb5f010e839dd986d0f149bfc81a93cf5de239a0543effea86")),
        "https://github.com/brendenlake/omniglot"),
    "cifar10": DataSet(
        "cifar10", "CIFAR-10 python batches (50,000 train + 10,000 test images, 32x32x3)", "cifar-10-batches-py",
        (Remote("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar-10-python.tar.gz",
                md5="c58f30108f718f92721af3b95e74349a", extract_to=".",
                outputs=tuple(f"cifar-10-batches-py/{n}" for n in
                              ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                               "test_batch"))),),
        "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "mnist": DataSet(
        "mnist", "MNIST idx files (60,000 train + 10,000 test digits, 28x28)", "mnist",
        tuple(Remote(_MNIST + name, f"mnist/{name}", md5=md5) for name, md5 in (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))),
        "http://yann.lecun.com/exdb/mnist/"),
}


def get_dataset(name: str) -> DataSet:
    """The registry entry ``name``; InfwidthError naming the known data sets otherwise."""
    if name not in DATASETS:
        raise InfwidthError(f"unknown data set {name!r}; choose one of {', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


def auto_download_enabled() -> bool:
    """True when ``$INFWIDTH_DOWNLOAD`` is ``1`` (or true/yes): loaders then download missing data sets."""
    return os.environ.get(ENV_DOWNLOAD, "").strip().lower() in ("1", "true", "yes")


def _verified(remote: Remote, data_dir: Path) -> bool:
    """Whether ``remote`` is already in place: a plain file with its pinned checksum, or all archive outputs
    (with their expected sizes)."""
    if remote.extract_to is None:
        p = data_dir / remote.path
        if not p.is_file():
            return False
        if remote.sha256 and sha256_file(p) != remote.sha256.lower():
            return False
        return not (remote.md5 and file_digest(p, "md5") != remote.md5.lower())
    if not all((data_dir / o).exists() for o in remote.outputs):
        return False
    return all((data_dir / o).is_file() and (data_dir / o).stat().st_size == n for o, n in remote.sizes)


def find_original(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The first candidate data directory (:func:`infwidth.data.paths.candidate_data_dirs`) holding every
    output of data set ``name`` (existence only, no checksum pass), or None."""
    ds = get_dataset(name)
    for d in candidate_data_dirs(data_dir):
        if all((d / o).exists() for o in ds.outputs):
            return d
    return None


def provide(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The data directory holding the original-source copy of ``name``; None when there is none.

    When no candidate directory holds it and ``$INFWIDTH_DOWNLOAD=1``, it is downloaded first into the
    first candidate data directory (created if needed). Raises InfwidthError when that download fails.
    """
    found = find_original(name, data_dir)
    if found is not None or not auto_download_enabled():
        return found
    target = candidate_data_dirs(data_dir)[0]
    download(name, target)
    return target


def _manual_hint(remote: Remote, data_dir: Path) -> str:
    if remote.extract_to is None:
        return f"download it by hand to {data_dir / remote.path}"
    return f"download it by hand and extract it into {(data_dir / remote.extract_to).resolve()}"


def _fetch(remote: Remote, data_dir: Path, progress: bool) -> Path:
    """Stream ``remote.url`` to a temporary file next to its destination and verify it; returns the temporary
    file (the caller renames or extracts it). A corrupt or partial download is removed."""
    from tqdm import tqdm

    dest = data_dir / remote.path
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise InfwidthError(f"cannot write into {dest.parent} ({e}); pass a writable --data-dir or set "
                            f"{ENV_DATA}.") from None
    tmp = Path(tmp_name)
    md5, sha = hashlib.md5(), hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(remote.url, headers={"User-Agent": "infwidth-data-download"})
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
                total = int(length) if length and str(length).isdigit() else None
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                          disable=not progress, leave=False) as bar:
                    while block := resp.read(1 << 20):
                        out.write(block)
                        md5.update(block)
                        sha.update(block)
                        bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise InfwidthError(f"could not download {remote.url} ({reason}); check the network, or "
                            f"{_manual_hint(remote, data_dir)}.") from None
    for algo, expected, got in (("sha256", remote.sha256, sha.hexdigest()), ("md5", remote.md5, md5.hexdigest())):
        if expected and got != expected.lower():
            tmp.unlink(missing_ok=True)
            raise InfwidthError(f"the download of {remote.url} is corrupt ({algo} {got} but expected {expected}); "
                                f"it was removed, try again or {_manual_hint(remote, data_dir)}.")
    return tmp


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return not p.is_absolute() and ".." not in p.parts


def _extract(archive: Path, remote: Remote, data_dir: Path) -> None:
    """Extract a verified archive into a temporary folder, then move its top-level entries into
    ``remote.extract_to`` (replacing incomplete older copies) and check the expected outputs."""
    dest = data_dir / (remote.extract_to or ".")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    except OSError as e:
        raise InfwidthError(f"cannot write into {dest} ({e}); pass a writable --data-dir or set {ENV_DATA}.") from None
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                bad = z.testzip()  # CRC of every member
                if bad is not None or not all(_safe_member(n) for n in z.namelist()):
                    raise InfwidthError(f"{remote.url} is a damaged or unsafe zip (member {bad}); try again.")
                z.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                members = t.getmembers()
                if not all(_safe_member(m.name) and (m.isfile() or m.isdir()) for m in members):
                    raise InfwidthError(f"{remote.url} holds unsafe entries (links or paths outside); not extracted.")
                if hasattr(tarfile, "data_filter"):
                    t.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - Python without the tarfile extraction filters
                    t.extractall(tmp, members=members)
        else:
            raise InfwidthError(f"{remote.url} is neither a zip nor a tar archive; {_manual_hint(remote, data_dir)}.")
        for entry in sorted(tmp.iterdir()):
            if entry.name == "__MACOSX":
                continue
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as e:
        raise InfwidthError(f"could not extract {remote.url} into {dest} ({e}); {_manual_hint(remote, data_dir)}.")\
            from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for o in remote.outputs:
        if not (data_dir / o).exists():
            raise InfwidthError(f"{remote.url} did not yield {o} after extraction; {_manual_hint(remote, data_dir)}.")
    for o, size in remote.sizes:
        got = (data_dir / o).stat().st_size
        if got != size:
            (data_dir / o).unlink()
            raise InfwidthError(f"{data_dir / o} extracted from {remote.url} has {got} bytes, expected {size}; it "
                                f"was removed, try again or {_manual_hint(remote, data_dir)}.")


def download(name: str, data_dir: str | os.PathLike[str] | None = None, *, force: bool = False,
             progress: bool = True) -> Path:
    """Download data set ``name`` from its original source into ``data_dir``.

    Inputs: ``name`` (a key of :data:`DATASETS`); ``data_dir`` (None = the first candidate data directory:
    ``$INFWIDTH_DATA``, else ``../shared/data``; created if needed); ``force`` re-downloads and replaces
    files that are already present and verified (without it they are kept); ``progress`` shows a tqdm bar.
    Output: the path the loaders read (``data_dir / DATASETS[name].main``).
    Raises InfwidthError (one sentence) when a download fails, is corrupt, or cannot be extracted.
    """
    ds = get_dataset(name)
    root = Path(data_dir) if data_dir is not None else candidate_data_dirs(None)[0]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InfwidthError(f"cannot create the data folder {root} ({e}); pass a writable --data-dir or set "
                            f"{ENV_DATA}.") from None
    for remote in ds.remotes:
        if not force and _verified(remote, root):
            continue
        tmp = _fetch(remote, root, progress)
        if remote.extract_to is None:
            tmp.chmod(0o644)
            os.replace(tmp, root / remote.path)
            continue
        try:
            _extract(tmp, remote, root)
        finally:
            tmp.unlink(missing_ok=True)
    return root / ds.main
