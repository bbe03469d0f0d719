"""The team's diversity measure and CLI checks (a full team run is in notebook-style demos
and the closing note: it takes minutes)."""

import pytest

from w2s_utils.research.team import diversity, main


def test_diversity_counts_families_per_agent_and_overall():
    results = [{"families": ["a", "b"]}, {"families": ["b"]}, {"families": ["c", "a", "d"]}]
    assert diversity(results) == {"per_agent": [2, 1, 3], "overall": 4,
                                  "families": ["a", "b", "c", "d"]}


def test_cli_needs_a_key_per_agent(tmp_path):
    keys, directions = tmp_path / "keys", tmp_path / "directions"
    keys.write_text("w2s_one\n")
    directions.write_text("filtering\n")
    with pytest.raises(SystemExit):
        main(["--keys", str(keys), "--directions", str(directions), "--agents", "2"])
