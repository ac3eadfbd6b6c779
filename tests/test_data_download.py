"""Downloads from the original sources (infwidth.data.download), offline: a localhost HTTP server serves
small generated files, and the registry's URLs and checksums are pointed at them."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import pickle
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from _cli import run_cli
from infwidth.data import download as dl
from infwidth.errors import InfwidthError


class _Server:
    """A localhost HTTP server over a folder, counting the GET requests per path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits: dict[str, int] = {}
        hits = self.hits

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path] = hits.get(self.path, 0) + 1
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def put(self, name: str, content: bytes) -> str:
        """Serve ``content`` as ``name``; returns its URL."""
        (self.root / name).write_bytes(content)
        return self.url(name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "served"
    root.mkdir()
    s = _Server(root)
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_auto_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dl.ENV_DOWNLOAD, raising=False)


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _patch(monkeypatch: pytest.MonkeyPatch, name: str, *remotes: dl.Remote) -> None:
    monkeypatch.setitem(dl.DATASETS, name, dataclasses.replace(dl.DATASETS[name], remotes=remotes))


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders left behind by a download."""
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".extract-")]


CORPUS = b"anarchism originated as a term of abuse first used against early working class radicals " * 3


def _text8_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("text8", CORPUS)
    return buf.getvalue()


def _serve_text8(server: _Server, monkeypatch: pytest.MonkeyPatch, size: int = len(CORPUS)) -> str:
    url = server.put("text8.zip", _text8_zip())
    _patch(monkeypatch, "text8", dataclasses.replace(dl.DATASETS["text8"].remotes[0], url=url,
                                                     sizes=(("text8", size),)))
    return url


def test_zip_download_lands_where_the_corpus_loader_reads(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from infwidth.data.text8 import load_corpus

    _serve_text8(server, monkeypatch)
    d = tmp_path / "data"
    path = dl.download("text8", d, progress=False)
    assert path == d / "text8"
    assert path.read_bytes() == CORPUS
    assert not (d / "text8.zip").exists() and _leftovers(d) == []
    # the shared substitute is absent from d: the default corpus is now the downloaded original
    corpus = load_corpus(data_dir=d, min_count=1)
    assert corpus.raw_tokens == len(CORPUS.split())
    assert corpus.words[:3] == ["anarchism", "originated", "as"]
    assert int(corpus.counts.sum()) == len(CORPUS.split())


def test_wrong_unzipped_size_is_rejected_and_removed(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    _serve_text8(server, monkeypatch, size=len(CORPUS) + 1)
    d = tmp_path / "data"
    with pytest.raises(InfwidthError, match="bytes, expected"):
        dl.download("text8", d, progress=False)
    assert not (d / "text8").exists() and not (d / "text8.zip").exists() and _leftovers(d) == []


def _cifar_tar(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    batches = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
            x = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
            batches[name] = x
            raw = pickle.dumps({b"data": x, b"labels": [1, 2, 3]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))
    return buf.getvalue(), batches


def test_tar_download_is_verified_and_read_by_the_cifar_loader(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    from infwidth.data.cifar10 import load_cifar10

    archive, batches = _cifar_tar(np.random.default_rng(0))
    remote = dl.DATASETS["cifar10"].remotes[0]
    _patch(monkeypatch, "cifar10", dataclasses.replace(remote, url=server.put("c.tar.gz", archive), md5=_md5(archive)))
    d = tmp_path / "data"
    assert dl.download("cifar10", d, progress=False) == d / "cifar-10-batches-py"
    x, y = load_cifar10("test", data_dir=d, source="python")
    ref = batches["test_batch"]
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [1, 2, 3]
    # pixel (i, j) of channel c is byte c*1024 + 32*i + j of the row (CIFAR's R, G, B planes)
    assert x[1, 4, 7, 2] == ref[1, 2 * 1024 + 32 * 4 + 7]
    np.testing.assert_array_equal(x[:, :, :, 0].reshape(3, -1), ref[:, :1024])
    xt, _ = load_cifar10("train", data_dir=d, source="auto")
    assert xt.shape == (15, 32, 32, 3)
    assert not (d / "cifar-10-python.tar.gz").exists() and _leftovers(d) == []


def test_corrupt_download_raises_and_leaves_nothing(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    archive, _ = _cifar_tar(np.random.default_rng(1))
    remote = dl.DATASETS["cifar10"].remotes[0]
    _patch(monkeypatch, "cifar10", dataclasses.replace(remote, url=server.put("c.tar.gz", archive),
                                                       md5=_md5(archive + b"x")))
    d = tmp_path / "data"
    with pytest.raises(InfwidthError, match="corrupt") as err:
        dl.download("cifar10", d, progress=False)
    assert server.url("c.tar.gz") in str(err.value)
    assert sorted(p.name for p in d.rglob("*")) == []  # nothing extracted, no partial file

    text = b": capital-common-countries\nAthens Greece Baghdad Iraq\n"
    qw = dataclasses.replace(dl.DATASETS["questions-words"].remotes[0], url=server.put("q.txt", text),
                             sha256=_sha(b"something else"))
    _patch(monkeypatch, "questions-words", qw)
    with pytest.raises(InfwidthError, match="sha256"):
        dl.download("questions-words", d, progress=False)
    assert not (d / qw.path).exists() and _leftovers(d) == []


QUESTIONS = (b": capital-common-countries\nAthens Greece Baghdad Iraq\n"
             b": gram1-adjective-to-adverb\namazing amazingly calm calmly\n")


def _serve_questions(server: _Server, monkeypatch: pytest.MonkeyPatch) -> dl.Remote:
    from infwidth.data import analogy

    remote = dataclasses.replace(dl.DATASETS["questions-words"].remotes[0], url=server.put("qw.txt", QUESTIONS),
                                 sha256=_sha(QUESTIONS))
    _patch(monkeypatch, "questions-words", remote)
    monkeypatch.setattr(analogy, "QUESTIONS_WORDS_SHA256", _sha(QUESTIONS))
    return remote


def test_existing_verified_file_is_kept_unless_forced(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    from infwidth.data.analogy import load_questions

    _serve_questions(server, monkeypatch)
    d = tmp_path / "data"
    path = dl.download("questions-words", d, progress=False)
    assert path == d / "questions-words" / "questions-words.txt" and path.read_bytes() == QUESTIONS
    assert server.hits == {"/qw.txt": 1}
    secs = load_questions(data_dir=d)
    assert [s.name for s in secs] == ["capital-common-countries", "gram1-adjective-to-adverb"]
    assert secs[1].questions == [("amazing", "amazingly", "calm", "calmly")] and not secs[1].semantic
    mtime = path.stat().st_mtime_ns
    dl.download("questions-words", d, progress=False)
    assert server.hits == {"/qw.txt": 1} and path.stat().st_mtime_ns == mtime
    dl.download("questions-words", d, force=True, progress=False)
    assert server.hits == {"/qw.txt": 2}
    # a corrupt local copy is not "verified": it is replaced by a fresh download
    path.write_bytes(b"garbage")
    dl.download("questions-words", d, progress=False)
    assert server.hits == {"/qw.txt": 3} and path.read_bytes() == QUESTIONS


def test_no_network_names_the_url_and_the_manual_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/questions-words.txt"
    _patch(monkeypatch, "questions-words", dataclasses.replace(dl.DATASETS["questions-words"].remotes[0], url=url))
    d = tmp_path / "data"
    with pytest.raises(InfwidthError) as err:
        dl.download("questions-words", d, progress=False)
    msg = str(err.value)
    assert url in msg and "by hand" in msg and str(d / "questions-words" / "questions-words.txt") in msg
    assert _leftovers(d) == [] and not (d / "questions-words" / "questions-words.txt").exists()


def test_missing_file_error_names_the_download_command(tmp_path: Path) -> None:
    from infwidth.data.analogy import load_questions
    from infwidth.data.mnist import load_mnist
    from infwidth.data.omniglot import load_omniglot

    d = tmp_path / "empty"
    for name, load in (("questions-words", lambda: load_questions(data_dir=d)),
                       ("mnist", lambda: load_mnist("test", data_dir=d)),
                       ("omniglot", lambda: load_omniglot(data_dir=d, use_cache=False))):
        with pytest.raises(InfwidthError) as err:
            load()
        assert f"infwidth data download {name} --data-dir {d}" in str(err.value)
        assert "INFWIDTH_DOWNLOAD=1" in str(err.value)
    assert not d.exists()  # nothing downloaded, nothing created


def _idx(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return gzip.compress(head + arr.astype(np.uint8).tobytes())


def test_auto_download_makes_the_mnist_loader_fetch(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    from infwidth.data.mnist import load_mnist

    rng = np.random.default_rng(2)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.array([3, 1, 4, 1]),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": np.array([5, 9])}
    remotes = []
    for r in dl.DATASETS["mnist"].remotes:
        blob = _idx(arrays[Path(r.path).name])
        remotes.append(dataclasses.replace(r, url=server.put(Path(r.path).name, blob), md5=_md5(blob)))
    _patch(monkeypatch, "mnist", *remotes)
    d = tmp_path / "new" / "data"
    monkeypatch.setenv(dl.ENV_DOWNLOAD, "1")
    x, y = load_mnist("test", data_dir=d)
    np.testing.assert_array_equal(x, arrays["t10k-images-idx3-ubyte.gz"])
    assert y.tolist() == [5, 9] and y.dtype == np.int64
    assert sorted(p.name for p in (d / "mnist").iterdir()) == sorted(arrays)
    assert sum(server.hits.values()) == 4
    xtr, ytr = load_mnist("train", data_dir=d)  # now found on disk: no new request
    assert ytr.tolist() == [3, 1, 4, 1] and xtr.shape == (4, 28, 28) and sum(server.hits.values()) == 4


def _png(ink_box: tuple[int, int, int, int]) -> bytes:
    from PIL import Image

    img = np.full((105, 105), 255, dtype=np.uint8)  # official Omniglot: white background, black ink
    r0, r1, c0, c1 = ink_box
    img[r0:r1, c0:c1] = 0
    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _omniglot_zip(folder: str, alphabet: str, box: tuple[int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in range(20):
            z.writestr(f"{folder}/{alphabet}/character01/0001_{k + 1:02d}.png", _png(box))
    return buf.getvalue()


def test_auto_download_of_omniglot_folders(server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from infwidth.data.omniglot import load_omniglot

    blobs = {"images_background.zip": _omniglot_zip("images_background", "Alpha", (0, 105, 0, 52)),
             "images_evaluation.zip": _omniglot_zip("images_evaluation", "Beta", (0, 52, 0, 105)),
             "train.json": json.dumps({"background": {"Alpha": ["character01"]}, "evaluation": {}}).encode(),
             "val.json": json.dumps({"background": {}, "evaluation": {}}).encode(),
             "test.json": json.dumps({"background": {}, "evaluation": {"Beta": ["character01"]}}).encode()}
    remotes = []
    for r in dl.DATASETS["omniglot"].remotes:
        b = blobs[Path(r.path).name]
        url = server.put(Path(r.path).name, b)
        remotes.append(dataclasses.replace(r, url=url, md5=_md5(b)) if r.md5 else
                       dataclasses.replace(r, url=url, sha256=_sha(b)))
    _patch(monkeypatch, "omniglot", *remotes)
    d = tmp_path / "data"
    monkeypatch.setenv(dl.ENV_DOWNLOAD, "1")
    om = load_omniglot(data_dir=d, use_cache=False)
    assert (d / "omniglot" / "images_background" / "Alpha" / "character01").is_dir()
    assert om.names == ["Alpha/character01", "Beta/character01"] and om.split.tolist() == [0, 2]
    assert om.images.shape == (2, 20, 28, 28)
    # ink (black in the PNG) becomes 255: the left half of Alpha, the top half of Beta
    assert om.images[0, 0, 14, 2] == 255 and om.images[0, 0, 14, 25] == 0
    assert om.images[1, 0, 2, 14] == 255 and om.images[1, 0, 25, 14] == 0
    assert not list((d / "omniglot").glob("*.zip")) and _leftovers(d) == []


def test_cli_list_and_download(server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    _serve_questions(server, monkeypatch)
    d = tmp_path / "data"
    code, out, err = run_cli(["data", "download", "questions-words", "--data-dir", str(d), "--no-progress"], capsys)
    assert code == 0, err
    target = d / "questions-words" / "questions-words.txt"
    assert target.read_bytes() == QUESTIONS and str(target) in out

    code, out, _ = run_cli(["data", "list", "--data-dir", str(d), "--json"], capsys)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["datasets"]}
    assert set(rows) == {"text8", "questions-words", "omniglot", "cifar10", "mnist"}
    assert rows["questions-words"]["shared"] == str(target) and rows["questions-words"]["status"] == "shared"
    assert rows["mnist"]["status"] == "missing" and rows["mnist"]["original"] is None
    assert rows["cifar10"]["sources"] == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]

    code, out, _ = run_cli(["data", "list", "--data-dir", str(d)], capsys)
    assert code == 0 and "missing" in out and "mattmahoney.net/dc/text8.zip" in out

    code, out, err = run_cli(["data", "download", "imagenet", "--data-dir", str(d)], capsys)
    assert code == 2 and err.startswith("error:") and "unknown data set 'imagenet'" in err and out == ""
    assert err.count("\n") == 1
