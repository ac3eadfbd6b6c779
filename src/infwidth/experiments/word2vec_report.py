"""Markdown for TP4 Table 3 (:func:`infwidth.experiments.word2vec_table.table3`): the generated block.

Everything here is computed from the rows it describes; the interpretation (what differs from TP4,
what the numbers mean) is hand-written outside the generated block and is never touched by a rerun.
"""

from __future__ import annotations

import math
from typing import Any

from infwidth.experiments.word2vec import Word2VecConfig, prefix


def _pm(x: float, se: float) -> str:
    return f"{x:.2f} ± {se:.2f}" if math.isfinite(se) else f"{x:.2f}"


def settings_line(base: Word2VecConfig, rows: list[dict[str, Any]], corpus: str) -> str:
    """The run settings in one line."""
    r = base.resolved()
    vocab = rows[0]["vocab"]
    cap = f"the {r['max_vocab']:,} most frequent words" if r["max_vocab"] else "every word"
    tokens = f"first {r['max_tokens']:,} tokens" if r["max_tokens"] else "all tokens"
    thr = " and ".join(f"{t:,}" if t else "0 (all candidates)" for t in base.restricts)
    st = base.train.stream
    return (f"{corpus}, {tokens}; vocabulary {vocab:,} ({cap} with count >= {base.min_count}); "
            f"{r['epochs']} epoch(s); CBOW, window {st.window}, {st.negative} negatives, subsampling {st.sample:g}, "
            f"lr {st.alpha:g} decayed linearly, weight decay {base.train.wd:g}; finite-width init {base.init} with "
            f"variance 1/width; {base.threads} thread(s) (Hogwild over {base.train.parts} parts); "
            f"compute-accuracy thresholds {thr}.")


def table3_markdown(rows: list[dict[str, Any]], base: Word2VecConfig, comparison_lines: list[str],
                    missing: list[str], command: str, runs: dict[str, Any]) -> str:
    """The generated Markdown block: command, settings, the table, paired comparisons, NTK check."""
    first = next(iter(runs.values()))[0]
    corpus = str(first.summary.get("corpus", "")) or _corpus_of(first.path)
    thr = base.restricts
    head = ["model", "seeds"]
    for r in thr:
        head += [f"{_name(r)}: total % ± binomial SE", f"{_name(r)}: seed SD", f"{_name(r)}: questions"]
    head += [f"{_name(thr[0])}: semantic / syntactic %", "last-epoch train loss",
             f"{_name(thr[0])}: minus limit (paired)", "Gram distance to limit (whole / learned)",
             "TP4 total % (text8, 15 epochs)"]
    lines = [f"Command: `{command}`" if command else "", "",
             "Settings: " + settings_line(base, rows, corpus), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["model"], row["seeds"]]
        for r in thr:
            pre = prefix(r)
            sd = row[f"{pre}_total_seed_sd"]
            cells += [_pm(row[f"{pre}_total"], row[f"{pre}_total_se"]),
                      f"{sd:.2f}" if math.isfinite(sd) else "–", f"{row[f'{pre}_covered']:,}"]
        pre = prefix(thr[0])
        cells.append(f"{row[f'{pre}_semantic']:.2f} / {row[f'{pre}_syntactic']:.2f}")
        cells.append(f"{row['loss']:.4f}" if "loss" in row else "not trained")
        cells.append(_pm(row[f"{pre}_minus_limit"], row[f"{pre}_minus_limit_se"])
                     if f"{pre}_minus_limit" in row else "")
        cells.append(f"{row['gram_distance_to_limit']:.4f} / {row['learned_gram_distance_to_limit']:.4f}"
                     if "gram_distance_to_limit" in row else "")
        paper = row["paper_total"]
        cells.append(f"{paper:.2f}" if math.isfinite(paper) else "")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Candidates: " + "; ".join(f"{_name(r)}: {rows[0][f'{prefix(r)}_candidates']:,} words" for r in thr)
              + ". Several seeds: the accuracy is the mean over seeds, the binomial SE the mean of the seeds' SEs."]
    if comparison_lines:
        lines += ["", "Paired differences in accuracy points (same seed, so the same example stream and the same "
                  "questions; SE of the per-question difference, combined with the spread over seeds when there "
                  "are several):", *comparison_lines]
    ntk = next((row for row in rows if row["model"] == "ntk"), None)
    if ntk is not None:
        lines += ["", f"NTK: analytic accuracy 1/(|V|-3) = {ntk['analytic']:.4f}% at |V| = {ntk['vocab']:,}; "
                  f"measured with random width-1024 features: "
                  + ", ".join(f"{_name(r)} {ntk[f'{prefix(r)}_total']:.4f}%" for r in thr) + "."]
    if missing:
        lines += ["", "Not finished when this block was written (rerun the command to add them): "
                  + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(lines)


def _name(r: int) -> str:
    return "all words" if r == 0 else f"top {r:,}"


def _corpus_of(path: Any) -> str:
    from infwidth.io import read_json

    try:
        return str(read_json(path / "config.json").get("corpus", "corpus"))
    except OSError:
        return "corpus"
