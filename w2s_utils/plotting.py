"""Figure helpers; ``savefig`` writes ``figures/<notebook>_<name>.png``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .paths import figures_dir


def savefig(fig, notebook: str, name: str) -> Path:
    path = figures_dir() / f"{notebook}_{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def accuracy_bars(summary: pd.DataFrame, title: str = "", ax=None):
    """Weak, student and ceiling test accuracy with 95% CI error bars, one group per row."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    roles = [("weak_acc", "weak", "#999999"), ("student_acc", "W2S student", "#4c72b0"),
             ("ceiling_acc", "strong ceiling", "#55a868")]
    x = np.arange(len(summary))
    width = 0.8 / len(roles)
    for i, (col, label, color) in enumerate(roles):
        ax.bar(x + (i - 1) * width, summary[col], width, yerr=summary[f"{col}_ci95"].fillna(0),
               label=label, color=color, capsize=3)
    ax.set_xticks(x, summary.get("label", summary.index.astype(str)))
    low = np.nanmin(summary[[r[0] for r in roles]].to_numpy()) - 0.05
    ax.set_ylim(max(0.0, low), 1.0)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def calibration_curve(labels, probs, label: str, ax, bins: int = 10):
    """Reliability diagram: mean predicted P(y=1) vs observed positive rate per bin."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probs, edges) - 1, 0, bins - 1)
    mean_p = [probs[which == b].mean() for b in range(bins) if (which == b).any()]
    observed = [labels[which == b].mean() for b in range(bins) if (which == b).any()]
    ax.plot(mean_p, observed, marker="o", label=label)
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("predicted P(y=1)")
    ax.set_ylabel("observed positive rate")
    return ax


def learning_curves(histories: dict[str, list[dict]], key: str = "val_loss", ax=None):
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for label, history in histories.items():
        frame = pd.DataFrame(history)
        if key in frame:
            ax.plot(frame["epoch"], frame[key], marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.legend(fontsize=8)
    return ax
