"""Benchmark: our CBOW (numba, finite-width muP) vs gensim's Word2Vec on the same corpus slice.

Both train CBOW with negative sampling (negative=25, window=8, sample=1e-4, min_count=5, mean of
the context, lr 0.05 decaying linearly, 2 threads) at the same width and epochs on the first
``--tokens`` tokens of the text8 substitute, in one run. Prints training words/s of each (corpus
tokens / training wall time, vocabulary building excluded for both), their ratio, and both analogy
accuracies (our evaluator, which matches gensim's evaluate_word_analogies; restrict 30000).
"ours" is TP4's setting (muP init N(0, 1/n), exact context gradient neu1e / cw, weight decay 1e-3);
"ours_gensim_like" is the same code running gensim's algorithm (init U(-0.5/n, 0.5/n), context rows
updated by the undivided neu1e as in word2vec.c, no weight decay), so its accuracy compares like with like.
Then trains the exact muP limit for ``--limit-tokens`` tokens at vocabulary ``--limit-vocab`` (the
``cpu`` preset's cap) and prints its words/s and memory.

Each training runs ``--repeats`` times, alternating ours and gensim's, and the best words/s of each is
reported (the machine is shared; analogy accuracies are those of the last repetition).

Run: python benchmarks/word2vec.py --tokens 3000000 --width 256 --epochs 1 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from infwidth.data.analogy import evaluate_analogies, load_questions
from infwidth.data.text8 import TEXT8_SUBSTITUTE, TEXT8_SUBSTITUTE_SHA256, encode_tokens, read_text, resolve_data_file
from infwidth.word2vec import ModelSpec, StreamConfig, Trainer, TrainSettings


def _ours(tokens: list[str], width: int, epochs: int, threads: int,
          model: str = "width") -> tuple[float, np.ndarray, list[str]]:
    """Train our CBOW; ``model``: "width" (TP4's muP setting), "gensim-like" (gensim's algorithm in our
    code: input init U(-0.5/n, 0.5/n), context rows updated by the undivided neu1e, no weight decay).
    Returns (words/s, embeddings, words)."""
    corpus = encode_tokens(tokens, min_count=5)
    spec = ModelSpec("width", width)
    like = model == "gensim-like"
    settings = TrainSettings(stream=StreamConfig(epochs=epochs), threads=threads, wd=0.0 if like else 0.001,
                             divide_ctx=not like)
    tr = Trainer(corpus.ids, corpus.counts, spec, settings)
    if like:
        syn0 = tr.syn0
        assert isinstance(syn0, np.ndarray)
        syn0[:] = (np.random.default_rng(1).random(syn0.shape) - 0.5) / width
    # compile the numba kernel outside the timed region (cached on disk after the first run anyway)
    warm = Trainer(corpus.ids[:5000], corpus.counts, spec,
                   TrainSettings(stream=StreamConfig(epochs=1), threads=threads))
    warm.train(progress=False)
    t = time.perf_counter()
    tr.train(progress=False)
    dt = time.perf_counter() - t
    return len(tokens) * epochs / dt, tr.embeddings(), corpus.words


def _gensim(tokens: list[str], width: int, epochs: int, threads: int) -> tuple[float, np.ndarray, list[str]]:
    from gensim.models import Word2Vec

    sentences = [tokens[i:i + 1000] for i in range(0, len(tokens), 1000)]
    m = Word2Vec(vector_size=width, sg=0, cbow_mean=1, negative=25, window=8, sample=1e-4, min_count=5,
                 workers=threads, alpha=0.05, min_alpha=0.05 * 1e-4, seed=1)
    m.build_vocab(sentences)
    t = time.perf_counter()
    m.train(sentences, total_examples=len(sentences), epochs=epochs)
    dt = time.perf_counter() - t
    return len(tokens) * epochs / dt, m.wv.vectors, list(m.wv.index_to_key)


def _limit_speed(tokens: list[str], vocab: int, n_tokens: int, threads: int) -> dict[str, float]:
    """Words/s and memory of the exact limit (width |V|) with the ``vocab`` most frequent words of the
    whole corpus, trained on its first ``n_tokens`` in-vocabulary tokens."""
    corpus = encode_tokens(tokens, min_count=5, max_vocab=vocab)
    ids = corpus.ids[:n_tokens]
    v = len(corpus.words)
    tr = Trainer(ids, corpus.counts, ModelSpec("limit"), TrainSettings(stream=StreamConfig(epochs=1), threads=threads))
    t = time.perf_counter()
    tr.train(progress=False)
    wps = len(ids) / (time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"limit            {wps:12,.0f} words/s at |V| = {v} ({len(ids)} tokens); parameters "
          f"{2 * v * v * 4 / 2**20:.0f} MiB (two {v}x{v} float32); peak RSS of this process {rss:.0f} MiB")
    return {"vocab": v, "tokens": len(ids), "words_per_s": wps, "param_mib": 2 * v * v * 4 / 2**20, "peak_rss_mib": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=2_000_000)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit-vocab", type=int, default=10_000)
    ap.add_argument("--limit-tokens", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2, help="alternating repetitions; best words/s is kept")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tokens = read_text(resolve_data_file(TEXT8_SUBSTITUTE, sha256=TEXT8_SUBSTITUTE_SHA256)).split()
    sections = load_questions()
    out: dict[str, object] = {"tokens": args.tokens, "width": args.width, "epochs": args.epochs,
                              "threads": args.threads, "repeats": args.repeats}
    sl = tokens[:args.tokens]
    runs = (("ours", lambda: _ours(sl, args.width, args.epochs, args.threads)),
            ("ours_gensim_like", lambda: _ours(sl, args.width, args.epochs, args.threads, model="gensim-like")),
            ("gensim", lambda: _gensim(sl, args.width, args.epochs, args.threads)))
    best: dict[str, float] = {}
    vecs_of: dict[str, np.ndarray] = {}
    words_of: dict[str, list[str]] = {}
    for rep in range(args.repeats):  # alternate the runs; keep each one's best speed (the CPU is shared)
        for name, fn in runs:
            wps, vecs, words = fn()
            best[name] = max(best.get(name, 0.0), wps)
            vecs_of[name], words_of[name] = vecs, words
            print(f"  repeat {rep + 1}: {name:16s} {wps:12,.0f} words/s", flush=True)
    for name, _ in runs:
        wps = best[name]
        res = evaluate_analogies(vecs_of[name], words_of[name], sections, restrict=30000)
        out[name] = {"words_per_s": wps, "vocab": len(words_of[name]), **res.summary()}
        print(f"{name:16s} {wps:12,.0f} words/s  analogy total {res.total:6.2f}%  (semantic {res.semantic:.2f}, "
              f"syntactic {res.syntactic:.2f}, covered {res.covered})", flush=True)
    g = out["gensim"]["words_per_s"]  # type: ignore[index]
    for name in ("ours", "ours_gensim_like"):
        out[f"ratio_{name}_over_gensim"] = ratio = out[name]["words_per_s"] / g  # type: ignore[index]
        print(f"ratio {name}/gensim (words/s): {ratio:.2f}")

    out["limit"] = _limit_speed(tokens, args.limit_vocab, args.limit_tokens, args.threads)
    if args.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
