import pytest

from w2s_utils.cache import ArtifactStore, CorruptArtifact, stage_key


def test_keys_change_with_config_and_stage():
    assert stage_key("weak", {"a": 1}) == stage_key("weak", {"a": 1})
    assert stage_key("weak", {"a": 1}) != stage_key("weak", {"a": 2})
    assert stage_key("weak", {"a": 1}) != stage_key("ceiling", {"a": 1})


def test_round_trip_and_cache_hit(tmp_path):
    store = ArtifactStore(tmp_path)
    calls = []
    compute = lambda: calls.append(1) or {"x": [1, 2, 3]}  # noqa: E731
    assert store.get_or_compute("k", compute) == {"x": [1, 2, 3]}
    assert store.get_or_compute("k", compute) == {"x": [1, 2, 3]}
    assert len(calls) == 1
    store.get_or_compute("k", compute, force=True)
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_or_partial_artifact_is_rebuilt_never_returned(tmp_path, damage):
    store = ArtifactStore(tmp_path)
    store.write("k", {"value": "good" * 100})
    raw = store.path("k").read_bytes()
    broken = {"truncate": raw[: len(raw) // 2], "flip": raw[:-5] + b"XXXXX",
              "garbage": b"not an artifact"}[damage]
    store.path("k").write_bytes(broken)
    with pytest.raises(CorruptArtifact):
        store.read("k")
    assert store.get_or_compute("k", lambda: {"value": "rebuilt"}) == {"value": "rebuilt"}
    assert store.read("k") == {"value": "rebuilt"}


def test_failed_write_leaves_no_file(tmp_path):
    store = ArtifactStore(tmp_path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write("k", Unpicklable())
    assert list(tmp_path.iterdir()) == []
