import subprocess
import sys

import pytest

from w2s_utils.config import ParameterError, validate
from w2s_utils.notebooks import parse_overrides, prepare


def test_unknown_parameter_suggests_the_real_one():
    with pytest.raises(ParameterError, match="n_trian.*Did you mean 'n_weak_train'"):
        validate("01_data", {"n_trian": 5})


def test_wrong_type_and_range_name_the_field():
    with pytest.raises(ParameterError, match="n_pool"):
        validate("01_data", {"n_pool": "many"})
    with pytest.raises(ParameterError, match="seeds"):
        validate("00_quickstart", {"seeds": []})
    with pytest.raises(ParameterError, match="regime"):
        validate("00_quickstart", {"regime": "full"})


def test_unknown_model_and_task_list_valid_ones():
    with pytest.raises(ParameterError, match="Did you mean 'minilm-l6'.*Valid"):
        validate("00_quickstart", {"strong_model": "minlm-l6"})
    with pytest.raises(ParameterError, match="tweets-sentiment"):
        validate("01_data", {"task": "tweets"})


def test_unknown_notebook_and_profile():
    with pytest.raises(ParameterError, match="Did you mean '01_data'"):
        prepare("01_dta", "smoke")
    with pytest.raises(ParameterError, match="Profiles: .*smoke"):
        prepare("01_data", "tiny")


def test_overrides_are_read_as_yaml():
    assert parse_overrides(["seeds=[0, 1]", "balanced=false", "n_pool=7"]) == {
        "seeds": [0, 1], "balanced": False, "n_pool": 7}
    with pytest.raises(ParameterError):
        parse_overrides(["n_pool"])


def test_cli_typo_fails_before_any_compute():
    result = subprocess.run(
        [sys.executable, "-m", "w2s_utils.notebooks", "run", "01_data", "--profile", "smoke",
         "-p", "n_trian=5"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "n_weak_train" in result.stderr
    assert "[w2s] 01_data" not in result.stdout  # nothing was executed
