"""Workshop explorers: pick a weak model, a strong model, a method, its key hyperparameter
and a seed; the explorer reruns that linear-probe experiment (seconds once embeddings
are cached) and redraws weak / student / ceiling accuracy and PGR.

In a Jupyter kernel that a person drives (JupyterLab, Notebook) ``explorer(...)`` shows
ipywidgets controls; run by the notebook runner (papermill, CI: no front end to drive
them, detected by :func:`live_frontend`) or in plain Python, the same call draws one
static figure for the base experiment's choice. ``interactive=`` overrides the
detection. Either way ``.figure`` and ``.row`` hold the latest result.
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from .experiment import Experiment
from .knobs import Knob
from .methods import get_method
from .paths import BATCH_ENV
from .pipeline import run
from .sweep import invalid_reason


def live_frontend() -> bool:
    """True in a Jupyter kernel a person drives; False under the notebook runner (which
    sets ``W2S_BATCH``), in IPython without a kernel, and in plain Python."""
    if os.environ.get(BATCH_ENV):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def knob(method: str) -> Knob | None:
    """The hyperparameter the explorer exposes for ``method`` (None if it has none)."""
    for name, info in get_method(method).Params.model_fields.items():
        default = info.default
        if isinstance(default, bool) or not isinstance(default, int | float):
            continue
        integer = isinstance(default, int)
        bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in info.metadata
                  if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")}
        low = bounds.get("Ge", bounds.get("Gt", 0))
        high = bounds.get("Le", bounds.get("Lt", max(1, 4 * default)))
        step = 1 if integer else (high - low) / 20
        if "Gt" in bounds:
            low += step
        return Knob(name, default, low, high, integer=integer, step=step)
    return None


def bar_figure(row: dict, title: str = "") -> Figure:
    """Weak / student / ceiling test accuracy, and the PGR, of one run's results row."""
    fig = Figure(figsize=(7, 3))
    acc_ax, pgr_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    names = ["weak", "student", "ceiling"]
    values = [row[f"{n}_acc"] for n in names]
    acc_ax.bar(names, values, color=["#999999", "#4c72b0", "#55a868"])
    for x, value in enumerate(values):
        acc_ax.text(x, value, f"{value:.3f}", ha="center", va="bottom", fontsize=8)
    acc_ax.set_ylim(max(0.0, min(values) - 0.1), 1.0)
    acc_ax.set_ylabel("test accuracy")
    acc_ax.set_title(title, fontsize=9)
    pgr_ax.bar(["PGR"], [row["pgr"]], color="#4c72b0")
    pgr_ax.axhline(0, color="black", lw=0.6)
    pgr_ax.axhline(1, color="grey", ls=":", lw=0.8)
    pgr_ax.set_title(f"PGR {row['pgr']:.2f} (one seed)", fontsize=9)
    fig.tight_layout()
    return fig


class Explorer:
    """Reruns one linear-probe experiment per choice; see the module docstring."""

    def __init__(self, base: Experiment, weak_models: list[str], strong_models: list[str],
                 methods: list[str], seeds: list[int], interactive: bool | None = None):
        self.base = base.with_(regime="linear_probe")
        self.choices = {"weak_model": weak_models, "strong_model": strong_models,
                        "method": methods, "seed": seeds}
        self.interactive = live_frontend() if interactive is None else interactive
        self.figure: Figure | None = None
        self.row: dict | None = None
        self._controls = None

    def update(self, weak_model: str, strong_model: str, method: str,
               value: float | None = None, seed: int = 0) -> tuple[Figure, dict]:
        """Run (or read from the cache) one configuration and draw it."""
        reason = invalid_reason(weak_model, strong_model, "linear_probe", method)
        if reason:
            raise ValueError(f"{weak_model} → {strong_model} with {method}: {reason}")
        spec = knob(method)
        params = {} if spec is None or value is None else {
            spec.name: int(value) if spec.integer else float(value)}
        exp = self.base.with_(weak_model=weak_model, strong_model=strong_model, method=method,
                              method_params=params).replicate(seed)
        self.row = run(exp, progress=False)
        setting = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        self.figure = bar_figure(self.row, f"{weak_model} → {strong_model}, {method} "
                                           f"({setting}), seed {seed}")
        return self.figure, self.row

    def show_static(self) -> tuple[Figure, dict]:
        """The base experiment's choice, for runs without a front end."""
        return self.update(self.base.weak_model, self.base.strong_model, self.base.method,
                           None, self.base.seed)

    def controls(self):
        """The ipywidgets panel: dropdowns, a slider for the method's knob, a run button."""
        if self._controls is not None:
            return self._controls
        import ipywidgets as w
        from IPython.display import display

        pick = {name: w.Dropdown(options=options, description=name.replace("_", " "))
                for name, options in self.choices.items()}
        for name, box in pick.items():  # start at the base experiment's choice where offered
            if getattr(self.base, name) in box.options:
                box.value = getattr(self.base, name)
        slider = w.FloatSlider(description="knob", continuous_update=False)
        button, out = w.Button(description="run", button_style="primary"), w.Output()

        def on_method(_=None):
            spec = knob(pick["method"].value)
            slider.disabled = spec is None
            slider.description = spec.name if spec else "(no knob)"
            if spec:
                with slider.hold_trait_notifications():  # min/max checked once, at the end
                    slider.min, slider.max = spec.low, spec.high
                    slider.step, slider.value = spec.step, spec.default

        def on_run(_=None):
            with out:
                out.clear_output(wait=True)
                try:
                    self.update(pick["weak_model"].value, pick["strong_model"].value,
                                pick["method"].value,
                                None if slider.disabled else slider.value, pick["seed"].value)
                except ValueError as error:
                    print(error)
                    return
                display(self.figure)

        pick["method"].observe(on_method, names="value")
        button.on_click(on_run)
        on_method()
        on_run()
        self._controls = w.VBox([w.HBox(list(pick.values())[:2]),
                                 w.HBox([*list(pick.values())[2:], slider, button]), out])
        return self._controls

    def _ipython_display_(self):
        from IPython.display import display

        if self.interactive:
            display(self.controls())
        else:
            display(self.figure if self.figure is not None else self.show_static()[0])


def explorer(base: Experiment, *, weak_models: list[str], strong_models: list[str],
             methods: list[str], seeds: list[int], interactive: bool | None = None
             ) -> Explorer:
    """An explorer that has drawn its first figure: interactive controls in a live Jupyter
    kernel, otherwise the static figure of ``base``'s weak/strong/method/seed choice."""
    view = Explorer(base, weak_models, strong_models, methods, seeds, interactive)
    if view.interactive:
        view.controls()
    else:
        view.show_static()
    return view
