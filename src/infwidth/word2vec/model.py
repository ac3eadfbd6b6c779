"""CBOW Word2Vec in muP at finite width, its exact infinite-width muP limit, and the NTK baseline.

Model (TP4 Eq. (33)): h(xi^J) = U xi^J, f = V h. We store the word2vec.c parameters directly:
``syn0`` (|V|, n) holds the input embeddings (rows of U^T, one per word) and ``syn1`` (|V|, n) the
output layer V. One global learning rate for both, as in TP4's runs.

* ``width:n`` -- finite-width muP: syn0 has i.i.d. entries of mean 0 and variance 1/n, syn1 = 0. The
  default draws them uniform on [-sqrt(3/n), sqrt(3/n)], as TP4's code does (``Word2Vec/src/word2vec.c``,
  ``InitNet``: ``(rand()/RAND_MAX - 0.5) * 2 sqrt(3) / sqrt(n)``); ``init="gaussian"`` draws N(0, 1/n),
  the Gaussian of the Tensor Program. Both give the same limit (only the variance enters). In rescaled coordinates
  X = sqrt(n) syn0, Y = sqrt(n) syn1 this is f = X.Y / n with learning rate n on both layers and
  O(1) coordinates, i.e. muP for a 1-hidden-layer linear network (TP4 Section 6, Corollary 6.2).
* ``limit`` -- the exact muP limit: every finite-width state is syn0 = A Z, syn1 = B Z with
  Z = syn0 at initialization and coefficient matrices A, B (|V| x |V|) whose updates involve Z only
  through the Gram matrix Z Z^T, which tends to the identity as n -> infinity. The limit is thus the
  width-|V| network started at syn0 = I, syn1 = 0 (TP4 Section 6 / Appendix D.1: the width-(d + d_o)
  "diagonal" network; here the d_o = |V| output coordinates stay exactly 0 because syn1 starts at 0,
  so they are dropped). Its embedding of word w is the row A_w, and A A^T is the limit of the
  finite-width Gram matrix syn0 syn0^T.
* ``ntk`` -- NNGP/NTK limit: features stay at their initialization (TP4 Corollary 3.9), so the
  embeddings are the random initial ones; its analogy accuracy is 1 / (|V| - 3) analytically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from infwidth.errors import InfwidthError
from infwidth.word2vec.corpus import EpochStream, StreamConfig, unigram_table


@dataclass(frozen=True)
class ModelSpec:
    """Which model: ``kind`` in {"width", "limit", "ntk"} and the width (None for the limit)."""

    kind: str
    width: int | None = None

    @staticmethod
    def parse(text: str) -> ModelSpec:
        """Parse ``width:256``, ``limit`` or ``ntk`` (``ntk:1024`` sets the width of the random features)."""
        name, _, arg = text.partition(":")
        if name == "limit" and not arg:
            return ModelSpec("limit")
        if name in ("width", "ntk"):
            if not arg and name == "ntk":
                return ModelSpec("ntk", 1024)
            try:
                n = int(arg)
            except ValueError:
                n = 0
            if n >= 1:
                return ModelSpec(name, n)
        raise InfwidthError(f"unknown model {text!r}; use width:N (e.g. width:256), limit, or ntk.")

    @property
    def label(self) -> str:
        """Short name, e.g. ``width256``, ``limit``, ``ntk``."""
        return f"width{self.width}" if self.kind == "width" else self.kind


INITS = ("uniform", "gaussian")


def init_params(spec: ModelSpec, vocab_size: int, seed: int, dtype: str = "float32",
                init: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Initial (syn0, syn1) for ``spec``: input embeddings with i.i.d. entries of mean 0 and variance 1/n
    (``init``: "uniform" on [-sqrt(3/n), sqrt(3/n)] as TP4's code, or "gaussian" N(0, 1/n); the identity
    for the limit), zero output layer. Output: float arrays (|V|, n) in ``dtype``."""
    if init not in INITS:
        raise InfwidthError(f"unknown init {init!r}; use one of {', '.join(INITS)}.")
    dt = np.dtype(dtype)
    if spec.kind == "limit":
        return np.eye(vocab_size, dtype=dt), np.zeros((vocab_size, vocab_size), dtype=dt)
    assert spec.width is not None
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7919])))
    shape = (vocab_size, spec.width)
    if init == "gaussian":
        syn0 = rng.standard_normal(shape) / np.sqrt(spec.width)
    else:
        syn0 = (2.0 * rng.random(shape) - 1.0) * np.sqrt(3.0 / spec.width)
    return syn0.astype(dt), np.zeros(shape, dtype=dt)


@dataclass
class TrainSettings:
    """Optimization and execution settings (defaults: TP4's text8 runs, 2 CPU threads)."""

    stream: StreamConfig = field(default_factory=StreamConfig)
    wd: float = 0.001  # weight decay, applied as w <- w (1 - alpha wd) on touched rows
    seed: int = 0
    threads: int = 2
    parts: int = 2  # ranges of each block trained concurrently (Hogwild); fixed so runs are comparable
    backend: str = "auto"  # "numba" | "torch" | "auto" (numba on CPU, torch on a GPU)
    device: str = "cpu"
    batch: int = 256  # torch backend only
    dtype: str = "float32"
    divide_ctx: bool = True  # context rows get neu1e / cw (TP4, exact gradient); False: neu1e (word2vec.c, gensim)
    init: str = "uniform"  # finite-width input init: "uniform" (TP4's code) or "gaussian", both variance 1/n


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


class Trainer:
    """Trains one model on an encoded corpus, block by block, with checkpoints and resume.

    Inputs: ``ids`` (int32 corpus), ``counts`` (word counts), ``spec``, ``settings``.
    State: ``syn0``, ``syn1`` (numpy, or torch tensors on the torch backend), ``epoch`` and
    ``block`` (position of the next block to train), ``loss_sum``/``examples`` of the current epoch.
    """

    def __init__(self, ids: np.ndarray, counts: np.ndarray, spec: ModelSpec, settings: TrainSettings) -> None:
        self.ids, self.counts, self.spec, self.settings = ids, counts, spec, settings
        self.table = unigram_table(counts)
        backend = settings.backend
        if backend == "auto":
            backend = "numba" if settings.device == "cpu" and _numba_available() else "torch"
        if backend not in ("numba", "torch"):
            raise InfwidthError(f"unknown backend {backend!r}; use numba, torch or auto.")
        self.backend = backend
        self.syn0: object
        self.syn1: object
        if backend == "torch" and spec.kind == "limit":  # build the |V| x |V| matrices on the device
            import torch

            dt = getattr(torch, settings.dtype)
            self.syn0 = torch.eye(len(counts), dtype=dt, device=settings.device)
            self.syn1 = torch.zeros((len(counts), len(counts)), dtype=dt, device=settings.device)
        else:
            self.syn0, self.syn1 = init_params(spec, len(counts), settings.seed, settings.dtype, settings.init)
            if backend == "torch":
                import torch

                self.syn0 = torch.from_numpy(self.syn0).to(settings.device)
                self.syn1 = torch.from_numpy(self.syn1).to(settings.device)
        self.epoch, self.block, self.loss_sum, self.examples = 0, 0, 0.0, 0
        self._set_threads()

    def _set_threads(self) -> None:
        if self.backend == "numba":
            import numba

            numba.set_num_threads(max(1, min(self.settings.threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        else:
            import torch

            torch.set_num_threads(max(1, self.settings.threads))

    def embeddings(self) -> np.ndarray:
        """Current input embeddings h(xi) = rows of syn0, as a float32 numpy array (|V|, width)."""
        s = self.syn0
        if not isinstance(s, np.ndarray):
            s = s.detach().cpu().numpy()  # type: ignore[attr-defined]
        return np.asarray(s, dtype=np.float32)

    def params_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """(syn0, syn1) as numpy arrays (copies on the torch backend)."""
        out = []
        for s in (self.syn0, self.syn1):
            out.append(s if isinstance(s, np.ndarray) else s.detach().cpu().numpy())  # type: ignore[attr-defined]
        return out[0], out[1]

    def state_dict(self) -> dict[str, object]:
        """Everything needed to resume: parameters, position, spec and settings.

        The parameters are torch tensors sharing memory with the numpy arrays (no copy: the limit's
        two |V| x |V| matrices are several GiB, and pickling a numpy array would copy it)."""
        import torch

        syn0, syn1 = (torch.from_numpy(np.ascontiguousarray(a)) for a in self.params_numpy())
        return {"syn0": syn0, "syn1": syn1, "epoch": self.epoch, "block": self.block,
                "loss_sum": self.loss_sum, "examples": self.examples, "spec": asdict(self.spec),
                "settings": asdict(self.settings), "vocab_size": len(self.counts)}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore a :meth:`state_dict` (same vocabulary and model required)."""
        if state["spec"] != asdict(self.spec) or state["vocab_size"] != len(self.counts):
            raise InfwidthError("checkpoint belongs to another model or vocabulary; "
                                "use a fresh --out or drop --resume.")
        saved = state["settings"]
        if isinstance(saved, dict) and saved.get("init", "gaussian") != self.settings.init:
            raise InfwidthError(f"checkpoint was made with init {saved.get('init', 'gaussian')!r}, not "
                                f"{self.settings.init!r}; resume with the same --init.")
        syn0, syn1 = np.asarray(state["syn0"]), np.asarray(state["syn1"])  # torch tensors or numpy arrays
        if self.backend == "torch":
            import torch

            self.syn0 = torch.from_numpy(np.array(syn0)).to(self.settings.device)
            self.syn1 = torch.from_numpy(np.array(syn1)).to(self.settings.device)
        else:  # copy into the arrays already allocated (a memory-mapped checkpoint is read once, in place)
            for mine, theirs in ((self.syn0, syn0), (self.syn1, syn1)):
                assert isinstance(mine, np.ndarray)
                np.copyto(mine, theirs.astype(mine.dtype, copy=False))
        self.epoch, self.block = int(state["epoch"]), int(state["block"])  # type: ignore[call-overload]
        self.loss_sum, self.examples = float(state["loss_sum"]), int(state["examples"])  # type: ignore[arg-type, call-overload]

    def _train_block(self, stream: EpochStream, k: int) -> int:
        blk = stream.block(k)
        cfg = self.settings.stream
        if self.backend == "numba":
            from infwidth.word2vec._numba import train_block_numba

            loss = train_block_numba(self.syn0, self.syn1, blk, cfg.window, self.settings.wd,  # type: ignore[arg-type]
                                     cfg.sentence_len, self.settings.parts, self.settings.divide_ctx)
        else:
            from infwidth.word2vec._torch import train_block_torch

            loss = train_block_torch(self.syn0, self.syn1, blk, cfg.window, self.settings.wd,  # type: ignore[arg-type]
                                     self.settings.batch, self.settings.divide_ctx)
        self.loss_sum += loss
        self.examples += len(blk.ids)
        return blk.raw_end

    def _stream(self) -> EpochStream:
        """The current epoch's example stream (its subsampling pass over the corpus is the costly part)."""
        return EpochStream(self.ids, self.counts, self.table, self.settings.stream, self.settings.seed, self.epoch)

    def _tokens_done(self, stream: EpochStream | None = None) -> int:
        """Corpus tokens (kept or not) trained on so far, over every epoch, including a partial epoch;
        ``stream``: the current epoch's, when the caller has already built it."""
        within = 0
        if self.block > 0 and self.epoch < self.settings.stream.epochs:
            within = (stream or self._stream()).block(self.block - 1).raw_end
        return self.epoch * len(self.ids) + within

    def train(self, on_epoch_end: Callable[[Trainer], None] | None = None,
              checkpoint: Callable[[Trainer], None] | None = None, checkpoint_every_s: float = 600.0,
              progress: bool = True, stop_after_blocks: int | None = None) -> None:
        """Train from the current position to the end of the last epoch.

        ``on_epoch_end(trainer)`` runs after each epoch (before its checkpoint); ``checkpoint(trainer)``
        runs after each epoch and every ``checkpoint_every_s`` seconds at a block boundary.
        ``stop_after_blocks`` stops early (simulates an interruption; used by tests).
        """
        from tqdm.auto import tqdm

        cfg = self.settings.stream
        total = cfg.epochs * len(self.ids)
        # the epoch the run starts in is built once: for the bar's starting point and for training
        first = self._stream() if self.epoch < cfg.epochs else None
        bar = tqdm(total=total, initial=self._tokens_done(first), unit="tok", unit_scale=True, disable=not progress,
                   desc=self.spec.label, smoothing=0.1)
        last_ckpt, trained_blocks = time.monotonic(), 0
        try:
            while self.epoch < cfg.epochs:
                stream, first = first or self._stream(), None
                raw_done = 0 if self.block == 0 else stream.block(self.block - 1).raw_end
                while self.block < stream.n_blocks:
                    raw_end = self._train_block(stream, self.block)
                    bar.update(raw_end - raw_done)
                    raw_done = raw_end
                    self.block += 1
                    trained_blocks += 1
                    bar.set_postfix(loss=f"{self.loss_sum / max(1, self.examples):.3f}", refresh=False)
                    if stop_after_blocks is not None and trained_blocks >= stop_after_blocks:
                        return
                    if checkpoint is not None and time.monotonic() - last_ckpt > checkpoint_every_s:
                        checkpoint(self)
                        last_ckpt = time.monotonic()
                self.epoch += 1
                self.block = 0
                if on_epoch_end is not None:
                    on_epoch_end(self)
                self.loss_sum, self.examples = 0.0, 0
                if checkpoint is not None:
                    checkpoint(self)
                    last_ckpt = time.monotonic()
        finally:
            bar.close()


def save_trainer(path: str | Path, trainer: Trainer) -> None:
    """Atomically write the trainer's :meth:`~Trainer.state_dict` (``infwidth.io.save_checkpoint``)."""
    from infwidth.io import save_checkpoint

    save_checkpoint(path, trainer.state_dict())
