"""The evaluation server's OpenAPI contract, checked by schemathesis against the live
server (real uvicorn on 127.0.0.1, a free port), bounded in time.

Every check is on, with two settings: ``positive_data_acceptance`` also accepts 422. The
schema cannot say that a submission must list exactly the split's ids, so a schema-valid
body with other ids is refused with 422, as declared. ``negative_data_rejection`` also
counts 413 as a rejection: a schema-violating body over the size limit is refused before
it is parsed, with the declared 413 (a faster machine generated one within the run).

One worker: schemathesis's workers are threads, and CPython 3.11's ``ast.parse`` (which
hypothesis calls to describe filters) keeps its recursion counter per interpreter, so
two threads parsing at once can fail with "AST constructor recursion depth mismatch"
(python/cpython#106905), a crash of the tool, not a finding about the server.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from research_synthetic import synthetic_data

from w2s_utils.research.evaluation import ServerSettings
from w2s_utils.research.runner import start_server_in_thread
from w2s_utils.research.server import create_app

pytest.importorskip("schemathesis")

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "422", "429"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                     "428", "429", "5xx"]
"""


def test_schemathesis_finds_no_contract_failure(tmp_path):
    data, _ = synthetic_data(n_test=40, n_holdout=40)
    app = create_app(data, f"sqlite:///{tmp_path / 'contract.sqlite'}",
                     ServerSettings(dashboard_ttl_s=0, max_body_bytes=64 * 1024))
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
        "schemathesis")
    assert cli, "schemathesis is installed but its command is not on PATH"
    with start_server_in_thread(app) as server:
        key = server.create_key("contract", rate_per_minute=10**6, max_submissions=10**6,
                                max_holdout=10**6)
        run = subprocess.run(
            [cli, "--config-file", str(tmp_path / "schemathesis.toml"), "run",
             f"{server.base_url}/openapi.json", "--header", f"Authorization: Bearer {key}",
             "--checks", "all", "--max-examples", "8", "--seed", "1", "--workers", "1",
             "--max-time", "45", "--no-color", "--report-dir", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=180, cwd=tmp_path)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert "Authentication failed" not in run.stdout, summary
