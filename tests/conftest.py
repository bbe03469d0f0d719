"""Every test runs offline, with caches, figures and executed notebooks in temp folders."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
