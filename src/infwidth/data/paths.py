"""Where data lives: data-directory resolution, cache directory, sha256 verification.

Resolution order of the data directory: an explicit ``data_dir`` (the CLI's ``--data-dir``), then the
environment variable ``$INFWIDTH_DATA``, then ``../shared/data`` relative to the current directory,
then ``../shared/data`` relative to the repository root. Nothing is ever downloaded.
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

_VERIFIED: dict[tuple[str, int, float], str] = {}


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


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file (memoized per (path, size, mtime) within the process)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def verify_sha256(path: str | os.PathLike[str], expected: str) -> None:
    """Raise InfwidthError when the file's sha256 differs from ``expected``."""
    got = sha256_file(path)
    if got != expected.lower():
        raise InfwidthError(
            f"checksum mismatch for {path}: sha256 {got[:16]}... but expected {expected[:16]}...; the file is "
            "corrupt or a different version, replace it with the copy described in the data README."
        )


def data_file(relative: str, data_dir: str | os.PathLike[str] | None = None, sha256: str | None = None,
              dataset: str | None = None, verify: bool = True) -> Path:
    """Path of ``relative`` inside the data directory, checksum-verified.

    ``sha256`` defaults to :data:`KNOWN_SHA256` for known files; ``dataset`` names an entry of
    :data:`WHERE_TO_GET` for the error message. Raises InfwidthError when missing or corrupt.
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
