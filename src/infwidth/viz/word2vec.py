"""TP4 Figure 1: PCA of the Word2Vec embeddings of US cities and states, one panel per model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from infwidth.data.analogy import AnalogySection
from infwidth.errors import InfwidthError
from infwidth.viz import save_figure


def cities_and_states(sections: Sequence[AnalogySection]) -> tuple[list[str], list[str]]:
    """Distinct cities and states of the ``city-in-state`` section (order of first appearance)."""
    sec = next((s for s in sections if s.name == "city-in-state"), None)
    if sec is None:
        raise InfwidthError("the analogy file has no 'city-in-state' section; pass the Google questions-words.txt.")
    cities: dict[str, None] = {}
    states: dict[str, None] = {}
    for a, b, c, d in sec.questions:
        cities.update({a: None, c: None})
        states.update({b: None, d: None})
    return list(cities), list(states)


def pca2(x: np.ndarray) -> np.ndarray:
    """First two principal-component coordinates of the rows of ``x`` (centred, via SVD)."""
    xc = x - x.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(xc.astype(np.float64), full_matrices=False)
    return u[:, :2] * s[:2]


def plot_city_state_pca(panels: Sequence[tuple[str, list[str], np.ndarray]], sections: Sequence[AnalogySection],
                        path: str | Path, max_words: int = 40, label_every: int = 3) -> Path:
    """Write the Figure 1 PNG: for each (title, words, vectors) panel, the PCA of the embeddings of
    the most frequent ``max_words`` cities and states (cities blue dots, states red crosses).

    Output: the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cities, states = cities_and_states(sections)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.8), squeeze=False)
    for ax, (title, words, vecs) in zip(axes[0], panels):
        index = {w: i for i, w in enumerate(words)}
        chosen = sorted((index[w], w, kind) for kind, group in (("city", cities), ("state", states))
                        for w in group if w in index)[:max_words]
        if len(chosen) < 3:
            raise InfwidthError(f"panel {title!r}: fewer than 3 cities/states in the vocabulary.")
        xy = pca2(vecs[[i for i, _, _ in chosen]])
        for kind, marker, color, name in (("city", "o", "tab:blue", "cities"), ("state", "x", "tab:red", "states")):
            sel = [j for j, (_, _, k) in enumerate(chosen) if k == kind]
            ax.scatter(xy[sel, 0], xy[sel, 1], marker=marker, c=color, label=name)
        for j, (_, w, _) in enumerate(chosen):
            if j % label_every == 0:
                ax.annotate(w, xy[j], fontsize=7, alpha=0.8, xytext=(2, 2), textcoords="offset points")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle("PCA of Word2Vec embeddings of US cities and states (TP4 Figure 1)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
