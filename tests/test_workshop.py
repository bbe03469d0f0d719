"""The workshop kit: an archive verifies before it touches the cache, adds without
overwriting, and after unpacking a notebook run computes nothing."""

import io
import json
import sqlite3
import tarfile
from contextlib import closing

import numpy as np
import pytest

from w2s_utils import workshop
from w2s_utils.cache import ArtifactStore
from w2s_utils.embedding_cache import cached


def _fake_cache(folder, monkeypatch, texts=("a", "b"), key="weak-1"):
    monkeypatch.setenv("W2S_CACHE_DIR", str(folder))
    cached("m", list(texts), lambda t: np.ones((len(t), 3)))
    ArtifactStore(folder / "artifacts").write(key, {"probs": [0.5]})
    return folder


def test_archive_round_trip_adds_and_keeps(tmp_path, monkeypatch):
    built = _fake_cache(tmp_path / "built", monkeypatch)
    archive = tmp_path / "kit.tar.gz"
    manifest = workshop.write_archive(built, archive, {"profile": "test"})
    assert set(manifest["files"]) == {"embeddings.sqlite", "artifacts/weak-1.pkl"}
    mine = _fake_cache(tmp_path / "mine", monkeypatch, texts=("a", "c"), key="weak-1")
    ArtifactStore(mine / "artifacts").write("weak-1", {"probs": "mine"})
    result = workshop.unpack(archive, mine)
    assert result["added"] == {"artifacts": [], "embeddings": {"m": 1}}  # "b" only
    assert ArtifactStore(mine / "artifacts").read("weak-1") == {"probs": "mine"}  # kept
    fresh = workshop.unpack(archive, tmp_path / "fresh")["added"]
    assert fresh == {"artifacts": ["weak-1"], "embeddings": {"m": 2}}


def test_damaged_or_unverifiable_archive_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "kit.tar.gz"
    workshop.write_archive(_fake_cache(tmp_path / "b", monkeypatch), archive, {})
    target = tmp_path / "target"
    with pytest.raises(workshop.KitError, match="not the published"):
        workshop.unpack(archive, target, sha256="0" * 64)
    archive.with_name("kit.tar.gz.sha256").unlink()
    with pytest.raises(workshop.KitError, match="--sha256"):
        workshop.unpack(archive, target)
    assert not (target / "embeddings.sqlite").exists()


def test_a_file_the_manifest_does_not_name_is_refused(tmp_path, monkeypatch):
    built = _fake_cache(tmp_path / "b", monkeypatch)
    archive = tmp_path / "kit.tar.gz"
    workshop.write_archive(built, archive, {})
    (tmp_path / "evil").write_text("x")
    with tarfile.open(archive, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data))
        tar.add(tmp_path / "evil", arcname="../evil")
    (tmp_path / "kit.tar.gz.sha256").write_text(workshop.sha256_file(archive) + "  kit\n")
    with pytest.raises(workshop.KitError, match="differ from its manifest"):
        workshop.unpack(archive, tmp_path / "target")


def test_after_unpack_the_pipeline_computes_nothing(tmp_path, monkeypatch):
    """The same promise without a kernel: runs recorded into one cache, packed and
    unpacked into another, are all read back there."""
    from w2s_utils.experiment import Experiment
    from w2s_utils.pipeline import run_seeds
    from w2s_utils.splits import SplitSizes

    exp = Experiment(task="synthetic-sentiment", weak_model="tfidf-logreg",
                     strong_model="static64", regime="linear_probe",
                     sizes=SplitSizes(weak_train=60, pool=60, val=20, test=60, holdout=20))
    built = tmp_path / "built"
    monkeypatch.setenv("W2S_CACHE_DIR", str(built))
    first = run_seeds(exp, [0, 1], progress=False)
    archive = tmp_path / "kit.tar.gz"
    workshop.write_archive(built, archive, {})
    fresh = tmp_path / "fresh"
    workshop.unpack(archive, fresh)
    before = workshop.inventory(fresh)
    monkeypatch.setenv("W2S_CACHE_DIR", str(fresh))
    again = run_seeds(exp, [0, 1], progress=False)
    assert workshop.computed(before, workshop.inventory(fresh)) == {"artifacts": [],
                                                                    "embeddings": {}}
    assert again["student_acc"].tolist() == first["student_acc"].tolist()


@pytest.mark.notebook
def test_after_unpack_a_notebook_computes_nothing(tmp_path, monkeypatch):
    """The kit's promise, on the smoke profile's linear-probe notebook: pack it, unpack
    into an empty cache, run it again: no new artifact, no new embedding."""
    monkeypatch.setenv("W2S_FIGURES_DIR", str(tmp_path / "figures"))
    archive = tmp_path / "dist" / "kit.tar.gz"
    manifest = workshop.pack(archive, "smoke", ["02_weak_supervisor"])
    assert manifest["embeddings"] and len(manifest["files"]) > 1
    fresh = tmp_path / "fresh-cache"
    workshop.unpack(archive, fresh)
    result = workshop.check("smoke", ["02_weak_supervisor"], fresh)
    assert result["computed"] == {"artifacts": [], "embeddings": {}}
    listed = json.loads(tarfile.open(archive).extractfile("manifest.json").read())
    assert listed["code_version"] == manifest["code_version"]
    with closing(sqlite3.connect(fresh / "embeddings.sqlite")) as db:
        assert db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == sum(
            manifest["embeddings"].values())
