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


def lines_with_ci(ax, table: pd.DataFrame, x: str, y: str, by: str | None = None, **style):
    """Mean ``y`` against ``x`` with 95% CI bars (column ``{y}_ci95``), one line per ``by``."""
    groups = table.groupby(by, sort=False) if by else [(style.pop("label", y), table)]
    style = {"marker": "o", "capsize": 3, **style}
    for key, part in groups:
        part = part.sort_values(x)
        ax.errorbar(part[x], part[y], yerr=part[f"{y}_ci95"].fillna(0), label=str(key),
                    **style)
    return ax


def accuracy_vs_size(students: pd.DataFrame, ceiling: pd.DataFrame, weak: pd.DataFrame,
                     ax=None):
    """Burns et al.'s figure: student test accuracy against strong-model size, one line per
    weak model (whose own accuracy is a star of the same colour at its size), and the
    strong ceiling trained on ground truth as a dashed black line. Log-scaled sizes."""
    ax = ax or plt.subplots(figsize=(6.5, 4))[1]
    for k, (name, part) in enumerate(students.groupby("weak_model", sort=False)):
        lines_with_ci(ax, part, "strong_params_m", "student_acc", color=f"C{k}",
                      label=f"student of {name}")
        own = weak[weak["weak_model"] == name]
        ax.errorbar(own["weak_params_m"], own["weak_acc"], yerr=own["weak_acc_ci95"].fillna(0),
                    marker="*", ms=12, ls="none", color=f"C{k}", capsize=3)
    lines_with_ci(ax, ceiling, "strong_params_m", "ceiling_acc", color="black", ls="--",
                  label="strong ceiling (ground truth)")
    ladder_axis(ax, [*weak["weak_model"], *ceiling["strong_model"]])
    ax.set_xlabel("strong model size (log scale); ★ = the weak supervisor itself")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    return ax


def ladder_axis(ax, models: list[str]):
    """A log-scaled x axis of model size, ticked at each model with its name and size."""
    from .models import get_model

    models = list(dict.fromkeys(models))
    sizes = [get_model(m).params_m for m in models]
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{m} ({s:g}M)" for m, s in zip(models, sizes)], rotation=30,
                  ha="right", fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("model size (log scale)")
    return ax


def annotated_heatmap(ax, table: pd.DataFrame, rows: str, cols: str, value: str,
                      row_order: list, col_order: list):
    """Mean ``value`` per ``rows`` × ``cols`` cell, written as 'mean ± 95% CI'; blank
    where there is no run (e.g. a weak model above the strong one)."""
    mean = table.pivot(index=rows, columns=cols, values=value)
    half = table.pivot(index=rows, columns=cols, values=f"{value}_ci95")
    mean = mean.reindex(index=row_order, columns=col_order).to_numpy(float)
    half = half.reindex(index=row_order, columns=col_order).to_numpy(float)
    low, high = min(0.0, np.nanmin(mean)), max(1.0, np.nanmax(mean))
    image = ax.imshow(mean, cmap="viridis", vmin=low, vmax=high)
    for (i, j), m in np.ndenumerate(mean):
        if not np.isnan(m):
            ax.text(j, i, f"{m:.2f}\n±{np.nan_to_num(half[i, j]):.2f}", ha="center",
                    va="center", fontsize=8, color="white" if m < (low + high) / 2 else "black")
    ax.set_xticks(range(len(col_order)), col_order, rotation=30, ha="right")
    ax.set_yticks(range(len(row_order)), row_order)
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.figure.colorbar(image, ax=ax, label=value)
    return ax


def grouped_bars(ax, table: pd.DataFrame, group: str, hue: str, value: str):
    """Mean ``value`` ± 95% CI: one cluster of bars per ``group``, one colour per ``hue``."""
    groups, hues = list(dict.fromkeys(table[group])), list(dict.fromkeys(table[hue]))
    width = 0.8 / len(hues)
    for k, name in enumerate(hues):
        part = table[table[hue] == name].set_index(group).reindex(groups)
        ax.bar(np.arange(len(groups)) + (k - (len(hues) - 1) / 2) * width, part[value], width,
               yerr=part[f"{value}_ci95"].fillna(0), capsize=3, label=str(name))
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    ax.axhline(0, color="black", lw=0.6)
    ax.legend(fontsize=8)
    return ax


def scatter_with_fit(ax, table: pd.DataFrame, x: str, y: str, by: str | None = None):
    """Points (coloured by ``by``), their least-squares line and y = x; returns the
    line's (slope, intercept)."""
    for key, part in (table.groupby(by, sort=False) if by else [(None, table)]):
        ax.scatter(part[x], part[y], s=14, alpha=0.7, label=key)
    slope, intercept = np.polyfit(table[x], table[y], 1)
    grid = np.linspace(0, table[x].max() * 1.05, 50)
    ax.plot(grid, slope * grid + intercept, color="black",
            label=f"fit: {slope:.2f}·x {intercept:+.3f}")
    ax.plot(grid, grid, ls=":", color="grey", label="y = x")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
    return slope, intercept
