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


def settings_line(config: dict[str, Any], thresholds: tuple[int, ...], threads: str = "") -> str:
    """The settings of a run (its ``config.json``) in one line; ``threads`` replaces its thread count
    (when the runs of a table used different ones, :func:`threads_by_run`)."""
    tr, st = config["train"], config["train"]["stream"]
    cap = f"the {config['max_vocab']:,} most frequent words" if config.get("max_vocab") else "every word"
    tokens = f"first {config['max_tokens']:,} tokens" if config.get("max_tokens") else "all tokens"
    thr = " and ".join(f"{t:,}" if t else "0 (all candidates)" for t in thresholds)
    return (f"{config['corpus']}, {tokens} ({config['corpus_tokens']:,}); vocabulary {config['vocab']:,} ({cap} "
            f"with count >= 5); {config['epochs']} epoch(s); CBOW, window {st['window']}, {st['negative']} "
            f"negatives, subsampling {st['sample']:g}, lr {st['alpha']:g} decayed linearly, weight decay "
            f"{tr['wd']:g}; finite-width init {tr.get('init', 'gaussian')} with variance 1/width; "
            f"{threads or str(tr['threads']) + ' thread(s)'} (Hogwild over {tr['parts']} parts, {tr['dtype']}); "
            f"compute-accuracy "
            f"thresholds {thr}.")


def threads_by_run(runs: dict[str, Any]) -> str:
    """"" when every trained run of ``runs`` (label -> finished runs) used one thread count; else which runs
    used which, e.g. "threads per run: 1 (width64 seed 0), 2 (width1024 seed 0)" (with several threads the
    Hogwild updates interleave differently, so the example order differs slightly)."""
    from infwidth.io import read_json

    by: dict[int, list[str]] = {}
    for label, group in runs.items():
        if label == "ntk":  # not trained
            continue
        for x in group:
            by.setdefault(int(read_json(x.path / "config.json")["train"]["threads"]), []).append(
                f"{label} seed {x.seed}")
    if len(by) <= 1:
        return ""
    return "threads per run: " + ", ".join(f"{t} ({', '.join(names)})" for t, names in sorted(by.items()))


def table3_markdown(rows: list[dict[str, Any]], base: Word2VecConfig, comparison_lines: list[str],
                    missing: list[str], command: str, runs: dict[str, Any]) -> str:
    """The generated Markdown block: command, settings, the table, paired comparisons, NTK check."""
    from infwidth.io import read_json

    first = next(iter(runs.values()))[0]
    thr = base.restricts
    head = ["model", "seeds"]
    for r in thr:
        head += [f"{_name(r)}: total % ± binomial SE", f"{_name(r)}: seed SD", f"{_name(r)}: questions"]
    head += [f"{_name(thr[0])}: semantic / syntactic %", "last-epoch train loss",
             f"{_name(thr[0])}: minus limit (paired)", "Gram distance to limit (whole / learned)",
             "TP4 total % (text8, 15 epochs)"]
    lines = [f"Command: `{command}`" if command else "", "",
             "Settings: " + settings_line(read_json(first.path / "config.json"), thr, threads_by_run(runs)), "",
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
        lines += ["", "Asked for but not finished (or not run) when this block was written; rerun the command "
                  "once they are: " + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(lines)


def _name(r: int) -> str:
    return "all words" if r == 0 else f"top {r:,}"
