"""The dashboard in a real headless browser: a submission made through the API shows up."""

import re
import shutil
import subprocess

import httpx
import numpy as np
import pytest

from w2s_utils.experiment import Experiment
from w2s_utils.research.evaldata import EvalData
from w2s_utils.research.runner import start_server_in_thread
from w2s_utils.research.server import create_app
from w2s_utils.splits import SplitSizes
from w2s_utils.train import TrainConfig

EXPERIMENT = Experiment(
    task="synthetic-sentiment",
    sizes=SplitSizes(weak_train=200, pool=400, val=100, test=300, holdout=300),
    weak_model="tfidf-logreg", strong_model="static64",
    probe=TrainConfig(epochs=10, batch_size=64, lr=2e-3, weight_decay=1e-2, warmup_frac=0.05))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (Debian: "
                                             "apt-get install -y chromium)")
def test_dashboard_shows_an_api_submission_in_chromium(tmp_path):
    data = EvalData.from_experiment(EXPERIMENT, train_seeds=(0,))
    app = create_app(data, f"sqlite:///{tmp_path / 'dash.sqlite'}")
    with start_server_in_thread(app) as server:
        key = server.create_key("browser-agent")
        http = httpx.Client(base_url=server.base_url, timeout=30,
                            headers={"Authorization": f"Bearer {key}"})
        ids = data.views["test"].ids
        predictions = np.ones(len(ids)).tolist()
        score = http.post("/v1/submissions", json={"idea": "idea-seen-in-browser", "ids": ids,
                                                   "predictions": predictions}).json()
        http.post("/v1/findings", json={"idea": "idea-seen-in-browser",
                                        "hypothesis": "a <b>bold</b> claim",
                                        "submission_id": score["submission_id"]})
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
             f"{server.base_url}/"],
            capture_output=True, text=True, timeout=90).stdout
    leaderboard = re.search(r'<table id="leaderboard">.*?</table>', dom, re.DOTALL).group(0)
    row = re.search(r"<tr>(?:(?!</tr>).)*idea-seen-in-browser.*?</tr>", leaderboard, re.DOTALL)
    assert row and "browser-agent" in row.group(0) and "constant" in row.group(0)
    assert '<svg id="pgr-chart"' in dom and "<polyline" in dom
    assert "a &lt;b&gt;bold&lt;/b&gt; claim" in dom


def test_dashboard_costs_the_same_at_100_and_100k_submissions(tmp_path, monkeypatch):
    """Running totals: the page reads ideas, agents and ladder steps, never every
    submission; and one render per ttl serves every reader."""
    import sys
    import time
    from pathlib import Path

    from sqlalchemy import insert

    sys.path.insert(0, str(Path(__file__).parent))
    from research_synthetic import synthetic_data

    from w2s_utils.research import dashboard
    from w2s_utils.research.db import Submission
    from w2s_utils.research.evaluation import ServerSettings

    data, secrets = synthetic_data(n_test=100, n_holdout=100)
    app = create_app(data, f"sqlite:///{tmp_path / 'busy.sqlite'}",
                     ServerSettings(dashboard_ttl_s=0))
    with start_server_in_thread(app) as server:
        key = server.create_key("busy-agent", rate_per_minute=10**6)
        http = httpx.Client(base_url=server.base_url, timeout=60,
                            headers={"Authorization": f"Bearer {key}"})
        score = http.post("/v1/submissions", json={
            "idea": "busy", "ids": data.views["test"].ids,
            "predictions": secrets["test"]["weak"].tolist()}).json()
        row = {"key_id": 1, "agent": "busy-agent", "idea": "busy", "n": 100,
               "accuracy": score["accuracy"], "pgr": score["pgr"], "new_best": False,
               "config": "{}", "flags": "[]"}

        def render_seconds(total: int) -> float:
            with app.state.engine.begin() as connection:
                count = connection.exec_driver_sql("SELECT count(*) FROM submissions").scalar()
                rows = [{**row, "created": time.time()} for _ in range(total - count)]
                if rows:
                    connection.execute(insert(Submission), rows)
            # CPU seconds of this process (the server renders in one of its threads):
            # unlike wall time, they do not grow when another test shares the cores.
            times = []
            for _ in range(5):
                start = time.process_time()
                assert httpx.get(f"{server.base_url}/").status_code == 200
                times.append(time.process_time() - start)
            return float(np.median(times))

        few, many = render_seconds(100), render_seconds(100_000)
        assert many < 2 * few + 0.02, (few, many)

        renders = []
        original = dashboard.render
        monkeypatch.setattr(dashboard, "render", lambda **kw: renders.append(1) or original(**kw))
        app_cached = create_app(data, f"sqlite:///{tmp_path / 'busy.sqlite'}",
                                ServerSettings(dashboard_ttl_s=60))
        with start_server_in_thread(app_cached) as cached:
            for _ in range(20):
                assert httpx.get(f"{cached.base_url}/").status_code == 200
        assert len(renders) == 1
