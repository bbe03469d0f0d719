"""Figure helpers; ``savefig`` writes ``figures/<notebook>_<name>.png``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .paths import figures_dir


def savefig(fig, notebook: str, name: str) -> Path:
    """Write the figure without volatile metadata: the same table gives the same bytes."""
    path = figures_dir() / f"{notebook}_{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    return path


def error_bars(table: pd.DataFrame, value: str) -> np.ndarray:
    """Error bar lengths for ``value``: asymmetric from ``{value}_low``/``_high`` (PGR's
    bootstrap interval) or symmetric from ``{value}_ci95``; 0 where there is none."""
    if f"{value}_low" in table:
        low = (table[value] - table[f"{value}_low"]).to_numpy(float)
        high = (table[f"{value}_high"] - table[value]).to_numpy(float)
        return np.nan_to_num(np.vstack([low, high]))
    return np.nan_to_num(table[f"{value}_ci95"].to_numpy(float))


def interval_text(mean: float, low: float | None, high: float | None, half: float | None
                  ) -> str:
    if np.isnan(mean):
        return "gap not\nresolved"
    if low is not None and not np.isnan(low):
        return f"{mean:.2f}\n[{low:.2f}, {high:.2f}]"
    return f"{mean:.2f}\n±{np.nan_to_num(half):.2f}"


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
    # Outside the axes: inside, any corner can hide a bar (the ceiling's, on the right).
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
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
    groups = table.groupby(by, sort=True) if by else [(style.pop("label", y), table)]
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
    for k, (name, part) in enumerate(students.groupby("weak_model", sort=True)):
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
    """Mean ``value`` per ``rows`` × ``cols`` cell with its 95% interval ('[low, high]'
    or '± half'); "gap not resolved" where a run exists but has no PGR, blank where
    there is no run (e.g. a weak model above the strong one)."""
    def grid(column):
        if column not in table:
            return np.full((len(row_order), len(col_order)), np.nan)
        return table.pivot(index=rows, columns=cols, values=column).reindex(
            index=row_order, columns=col_order).to_numpy(float)

    mean, low_ci, high_ci, half = (grid(c) for c in (
        value, f"{value}_low", f"{value}_high", f"{value}_ci95"))
    present = table.assign(_one=1.0).pivot(index=rows, columns=cols, values="_one").reindex(
        index=row_order, columns=col_order).notna().to_numpy()
    finite = mean[~np.isnan(mean)]
    low = min(0.0, finite.min()) if finite.size else 0.0
    high = max(1.0, finite.max()) if finite.size else 1.0
    image = ax.imshow(mean, cmap="viridis", vmin=low, vmax=high)
    for (i, j), m in np.ndenumerate(mean):
        if present[i, j]:
            ax.text(j, i, interval_text(m, low_ci[i, j], high_ci[i, j], half[i, j]),
                    ha="center", va="center", fontsize=7,
                    color="black" if np.isnan(m) or m >= (low + high) / 2 else "white")
    ax.set_xticks(range(len(col_order)), col_order, rotation=30, ha="right")
    ax.set_yticks(range(len(row_order)), row_order)
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.figure.colorbar(image, ax=ax, label=value)
    return ax


def grouped_bars(ax, table: pd.DataFrame, group: str, hue: str, value: str):
    """Mean ``value`` with its 95% interval: one cluster of bars per ``group``, one colour
    per ``hue``, both in sorted order (so a figure does not depend on row order)."""
    groups, hues = sorted(set(table[group])), sorted(set(table[hue]))
    width = 0.8 / len(hues)
    for k, name in enumerate(hues):
        part = table[table[hue] == name].set_index(group).reindex(groups)
        ax.bar(np.arange(len(groups)) + (k - (len(hues) - 1) / 2) * width, part[value], width,
               yerr=error_bars(part, value), capsize=3, label=str(name))
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    ax.axhline(0, color="black", lw=0.6)
    ax.legend(fontsize=8)
    return ax


def scatter_with_fit(ax, table: pd.DataFrame, x: str, y: str, by: str | None = None):
    """Points (coloured by ``by``, in sorted order), their least-squares line and y = x;
    returns the line's (slope, intercept)."""
    table = table.sort_values([c for c in (by, x, y) if c])
    for key, part in (table.groupby(by, sort=True) if by else [(None, table)]):
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


def length_histogram(lengths: dict[str, np.ndarray], unit: str = "tokens",
                     cut: int | None = None, ax=None):
    """Lengths of each split's texts on a log axis (long documents stay readable), with
    the point where a model stops reading marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    everything = np.concatenate([np.asarray(v) for v in lengths.values()])
    low = max(1, int(everything.min()))
    top = max(int(everything.max()), cut or 1, low + 1)
    bins = np.unique(np.geomspace(low, top * 1.05, 30).round()) - 0.5  # integers mid-bin
    for name, values in lengths.items():
        values = np.maximum(np.asarray(values), 1)
        ax.hist(values, bins=bins, histtype="step", label=name,
                weights=np.full(len(values), 1 / max(len(values), 1)))
    ax.set_xscale("log")
    if cut:
        share = float((everything > cut).mean())
        ax.axvline(cut, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"cut at {cut}: {share:.1%} of texts", (cut, 0.95),
                    xycoords=("data", "axes fraction"), ha="right", va="top", fontsize=8,
                    xytext=(-3, 0), textcoords="offset points")
    ax.set_xlabel(f"{unit} per text (log scale)")
    ax.set_ylabel("share of the split's texts")
    ax.legend(fontsize=8, loc="upper left")
    return ax
