"""Every test runs offline, with caches, figures and executed notebooks in temp folders."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _share_the_cores_among_workers() -> None:
    """Under ``pytest -n N`` each worker (and the kernels and children it starts) gets its
    share of the cores for torch's OpenMP threads, as ``sweep`` does for its workers: two
    workers each with a pool the size of the machine oversubscribe a 2-core CPU. On 40
    CPU-bound tests (pipeline, data files, two smoke notebooks; 2 workers, interleaved)
    sharing took 158.6 and 155.8 s against 171.8 and 174.5 s, 9% less."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        share = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, share)


_share_the_cores_among_workers()  # before any test module imports torch


def pytest_collection_modifyitems(items):
    """Fast tests first, slow ones last (`make test` runs both; `-m "not slow"` the first)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


@pytest.fixture(scope="session", autouse=True)
def isolated_folders(tmp_path_factory):
    """One shared cache per session (embeddings are reused across tests)."""
    root = tmp_path_factory.mktemp("w2s")
    for name in ("W2S_CACHE_DIR", "W2S_FIGURES_DIR", "W2S_RUNS_DIR"):
        os.environ[name] = str(root / name.lower())
    yield root


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A cache of this test's own, for tests that count what gets computed."""
    monkeypatch.setenv("W2S_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory):
    """An evaluation server on a tiny linear-probe task (TF-IDF weak → static64 strong),
    with a database of its own: what the agent and notebook-06 tests run against."""
    from w2s_utils.experiment import Experiment
    from w2s_utils.research.evaldata import EvalData
    from w2s_utils.research.runner import start_server_in_thread
    from w2s_utils.research.server import create_app
    from w2s_utils.splits import SplitSizes
    from w2s_utils.train import TrainConfig

    experiment = Experiment(
        task="synthetic-sentiment",
        sizes=SplitSizes(weak_train=200, pool=400, val=100, test=300, holdout=300),
        weak_model="tfidf-logreg", strong_model="static64", regime="linear_probe",
        probe=TrainConfig(epochs=5, batch_size=64, lr=2e-3, weight_decay=1e-2,
                          warmup_frac=0.05))
    data = EvalData.from_experiment(experiment, train_seeds=(0,))
    url = f"sqlite:///{tmp_path_factory.mktemp('research') / 'server.sqlite'}"
    with start_server_in_thread(create_app(data, url)) as running:
        yield running
