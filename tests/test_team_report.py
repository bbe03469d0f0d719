"""Notebook 07's sentences are computed from its tables: what they say for tables whose
answers are known."""

import pandas as pd

from w2s_utils.research.team_report import cost_verdict, transfer_per_seed, transfer_verdict


def transfer_row(idea: str, search: list[float], heldout: list[float], **extra) -> dict:
    def side(values):
        mean = sum(values) / len(values)
        return {"pgr": mean, "pgr_low": mean - 0.2, "pgr_high": mean + 0.2, "resolved": True}
    row = {"agent": "a", "idea": idea, "seeds": len(search), "search_task": "tweets",
           "heldout_task": "synthetic", "search_per_seed_pgr": search,
           "heldout_per_seed_pgr": heldout, "task_gap_p": float("nan")}
    row.update({f"search_{k}": v for k, v in side(search).items()})
    row.update({f"heldout_{k}": v for k, v in side(heldout).items()})
    row["transferred"] = row["search_pgr_low"] > 0 and row["heldout_pgr_low"] > 0
    return {**row, **extra}


def test_identical_seeds_are_named_as_such():
    table = pd.DataFrame([transfer_row("same", [0.5] * 3, [0.4] * 3)])
    text = transfer_verdict(table)
    assert "same PGR on each task" in text and "test-example noise only" in text
    assert "Paired by training seed" not in text  # no test on identical seeds
    assert "it transferred (its interval lies above 0 on both tasks)" in text


def test_a_search_interval_through_zero_is_no_gain_to_transfer():
    table = pd.DataFrame([transfer_row("lucky", [0.1, 0.0, 0.2], [0.5, 0.6, 0.55])])
    text = transfer_verdict(table)
    assert ("did not transfer (its search-task interval reaches 0: the search did not "
            "establish a gain)") in text  # however good its held-out PGR


def test_varying_seeds_get_the_paired_test():
    table = pd.DataFrame([transfer_row("varied", [0.5, 0.6, 0.7], [0.1, 0.2, 0.25],
                                       task_gap_p=0.01)])
    text = transfer_verdict(table)
    assert "differs between the tasks (t-test p = 0.01)" in text
    assert "same PGR on each task" not in text
    assert "did not transfer (its held-out interval reaches 0 or below)" in text
    assert "0 of the 1 re-run ideas transferred" in text


def test_per_seed_rows_follow_the_seeds():
    table = pd.DataFrame([transfer_row("x", [0.1, 0.2], [0.3, 0.4])])
    rows = transfer_per_seed(table, [7, 9])
    assert rows[rows["role"] == "heldout"].set_index("seed")["pgr"].to_dict() == {7: 0.3, 9: 0.4}


def test_cost_verdict_before_and_after_the_organizer_reruns():
    board = pd.DataFrame({"cpu_seconds": [10.0, 20.0], "server_cpu_seconds": [0.0, 0.0],
                          "counted": [True, False], "pgr_per_cpu_hour": [3.0, None],
                          "eval_calls": [4, 1], "tokens": [0, 0], "dollars": [0.0, 0.0],
                          "idea": ["good", "young"]})
    assert "re-run none of them yet" in cost_verdict(board)
    board["server_cpu_seconds"] = [12.0, 0.0]
    text = cost_verdict(board)
    assert "re-runs measured 12 CPU-seconds" in text and "good gained the most" in text
