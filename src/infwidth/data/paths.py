"""Where data lives: data-directory resolution, cache directory, sha256 verification, downloads.

Resolution order of the data directory: an explicit ``data_dir`` (the CLI's ``--data-dir``), then the
environment variable ``$INFWIDTH_DATA``, then ``../shared/data`` relative to the current directory,
then ``../shared/data`` relative to the repository root.

The shared copies are preferred. When one is missing, :func:`data_file` looks for the copy of the data set
from its original source (:mod:`infwidth.data.download`, placed by ``infwidth data download NAME``); with
``$INFWIDTH_DOWNLOAD=1`` a missing data set is downloaded into the first candidate data directory
(created if needed). Without that variable nothing is downloaded and the error names the download command.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from infwidth.errors import InfwidthError

ENV_DATA = "INFWIDTH_DATA"
ENV_CACHE = "INFWIDTH_CACHE"

#: sha256 of every shared file the loaders know (data README).
KNOWN_SHA256: dict[str, str] = {
    "wiki_text8like/wiki_text8like.txt.gz": "114215b1fd8f070a66c16311e34168950d2c212c55fa3a72d659858d65d338d3",
    "questions-words/questions-words.txt": "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
    "omniglot/omniglot.npz": "480ac8ba9150ba6aaf3d814aec0d965aeed6920fb7ac7d06e7a354321cff8c4c",
    "cifar10_jpeg/cifar10_jpeg_bytes.npz": "b1091c5ea41ae05745b054dfe78e169e8ec1f4dc2df004961759ace1b182b15c",
    "mnist/mnist.npz": "81b4cc75ad95d809ff04b597578eae36f6295ba8586689c3690ce1f848b8ab61",
}

#: where a user can obtain each data set (used in error messages).
WHERE_TO_GET: dict[str, str] = {
    "cifar10": "the JPEG copy cifar10_jpeg/cifar10_jpeg_bytes.npz of the shared data folder, or the original "
               "python batches cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
               "(extract it so that cifar-10-batches-py/ sits in the data folder)",
    "mnist": "mnist/mnist.npz of the shared data folder, or the idx files from http://yann.lecun.com/exdb/mnist/ "
             "(train-images-idx3-ubyte.gz etc. in a folder mnist/ of the data folder)",
}

#: shared file -> the data set of :mod:`infwidth.data.download` whose original-source copy replaces it.
ORIGINAL_OF: dict[str, str] = {
    "wiki_text8like/wiki_text8like.txt.gz": "text8",
    "questions-words/questions-words.txt": "questions-words",
    "omniglot/omniglot.npz": "omniglot",
    "omniglot/torchmeta_vinyals_split/train.json": "omniglot",
    "omniglot/torchmeta_vinyals_split/val.json": "omniglot",
    "omniglot/torchmeta_vinyals_split/test.json": "omniglot",
    "cifar10_jpeg/cifar10_jpeg_bytes.npz": "cifar10",
    "mnist/mnist.npz": "mnist",
}

_VERIFIED: dict[tuple[str, int, float, str], str] = {}


def candidate_data_dirs(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The data directories tried, in order (flag, $INFWIDTH_DATA, ../shared/data from cwd, from the repo)."""
    if data_dir is not None:
        return [Path(data_dir)]
    out: list[Path] = []
    if os.environ.get(ENV_DATA):
        out.append(Path(os.environ[ENV_DATA]))
    out.append(Path.cwd().parent / "shared" / "data")
    repo_root = Path(__file__).resolve().parents[3]
    out.append(repo_root.parent / "shared" / "data")
    seen: list[Path] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The first existing data directory of :func:`candidate_data_dirs`; InfwidthError if none exists."""
    cands = candidate_data_dirs(data_dir)
    for p in cands:
        if p.is_dir():
            return p
    raise InfwidthError(
        f"no data folder found (tried {', '.join(str(c) for c in cands)}); pass --data-dir PATH or set "
        f"{ENV_DATA} to the folder holding the data sets (see the data README)."
    )


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256", chunk: int = 1 << 22) -> str:
    """Hex digest (``hashlib`` algorithm name, e.g. sha256 or md5) of a file, memoized per
    (path, size, mtime, algorithm) within the process."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime, algorithm)
    if key not in _VERIFIED:
        h = hashlib.new(algorithm)
        with open(p, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file (memoized, see :func:`file_digest`)."""
    return file_digest(path, "sha256")


def verify_sha256(path: str | os.PathLike[str], expected: str) -> None:
    """Raise InfwidthError when the file's sha256 differs from ``expected``."""
    got = sha256_file(path)
    if got != expected.lower():
        raise InfwidthError(
            f"checksum mismatch for {path}: sha256 {got[:16]}... but expected {expected[:16]}...; the file is "
            "corrupt or a different version, replace it with the copy described in the data README."
        )


def data_file(relative: str, data_dir: str | os.PathLike[str] | None = None, sha256: str | None = None,
              dataset: str | None = None, verify: bool = True, original: bool = False) -> Path:
    """Path of ``relative`` inside the data directory, checksum-verified.

    ``sha256`` defaults to :data:`KNOWN_SHA256` for known files; ``dataset`` names the data set (an entry of
    :data:`WHERE_TO_GET` and of :data:`infwidth.data.download.DATASETS`; default :data:`ORIGINAL_OF`).
    When the file is in no candidate directory and the data set's original-source download provides it
    (or ``original=True``: the caller can read the original layout), the original copy is looked for and,
    with ``$INFWIDTH_DOWNLOAD=1``, downloaded. Output: the file, or with ``original=True`` possibly the
    original copy's path (``DATASETS[name].main``: a file or folder) standing in for it.
    Raises InfwidthError (naming ``infwidth data download NAME``) when missing, or when corrupt.
    """
    cands = candidate_data_dirs(data_dir)
    for d in cands:
        p = d / relative
        if p.is_file():
            expected = sha256 or KNOWN_SHA256.get(relative)
            if verify and expected:
                verify_sha256(p, expected)
            return p
    hint = WHERE_TO_GET.get(dataset or "", "the shared data folder (see its README)")
    name = dataset or ORIGINAL_OF.get(relative)
    from infwidth.data import download as dl

    if name is not None and name in dl.DATASETS and (original or relative in dl.DATASETS[name].outputs):
        root = dl.provide(name, data_dir)
        if root is not None:
            if (root / relative).is_file():
                return data_file(relative, root, sha256, dataset, verify, original=False)
            return root / dl.DATASETS[name].main
        raise InfwidthError(
            f"data file {relative} not found in {', '.join(str(c) for c in cands)}; run `infwidth data download "
            f"{name} --data-dir {cands[0]}` (or set {dl.ENV_DOWNLOAD}=1 to download it automatically), or get it "
            f"from {hint}, then pass --data-dir PATH or set {ENV_DATA}."
        )
    raise InfwidthError(
        f"data file {relative} not found in {', '.join(str(c) for c in cands)}; get it from {hint}, then pass "
        f"--data-dir PATH or set {ENV_DATA}."
    )


def cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Cache directory for decoded arrays: ``cache``, then ``$INFWIDTH_CACHE``, then ``~/.cache/infwidth``."""
    if cache is not None:
        p = Path(cache)
    elif os.environ.get(ENV_CACHE):
        p = Path(os.environ[ENV_CACHE])
    else:
        p = Path.home() / ".cache" / "infwidth"
    p.mkdir(parents=True, exist_ok=True)
    return p
