"""The README's methods table is the rendering of notebook 04's committed per-seed rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from w2s_utils.method_table import END, START, main, methods_markdown, replace_block

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_matches_the_committed_rows():
    assert main([str(ROOT / "README.md"), "--results", str(ROOT / "figures/04_methods_results.csv"),
                 "--check"]) == 0


def _runs(gain_by_method: dict[str, float], seeds: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for method, gain in gain_by_method.items():
        for seed in range(seeds):
            rows.append({"regime": "linear_probe", "method": method, "seed": seed, "weak_acc": 0.7,
                         "ceiling_acc": 0.9, "student_acc": 0.75 + gain + rng.normal(0, 1e-4)})
    return pd.DataFrame(rows)


def test_cells_state_verdict_wins_and_gain():
    table = methods_markdown(_runs({"naive": 0.0, "product": 0.05, "window": -0.05}))
    lines = {line.split(" | ")[0]: line for line in table.splitlines()}
    assert "| linear probe (6 replicates) |" in table and "fine-tuning" not in table
    assert "baseline" in lines["| `naive`"]
    assert "helped (6/6 seeds, +0.25 of the gap)" in lines["| `product`"]
    assert "hurt (0/6 seeds, -0.25 of the gap)" in lines["| `window`"]
    assert lines["| `logconf`"].endswith("| not run |")


def test_a_stale_readme_is_reported(tmp_path, capsys):
    results = tmp_path / "r.csv"
    _runs({"naive": 0.0, "product": 0.05}).to_csv(results, index=False)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold\n{END}\nrest\n")
    assert main([str(readme), "--results", str(results), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert main([str(readme), "--results", str(results)]) == 0
    assert main([str(readme), "--results", str(results), "--check"]) == 0
    assert readme.read_text().startswith("intro\n") and readme.read_text().endswith("\nrest\n")


def test_missing_markers_say_where_the_table_goes():
    with pytest.raises(ValueError, match="markers are missing"):
        replace_block("no markers here", "| table |")
