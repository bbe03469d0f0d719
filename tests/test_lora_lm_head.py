"""Scaling up on CPU: devices and precision, LoRA adapters and LM-head scoring, all on
tiny random models the tests create."""

import numpy as np
import pytest
import torch
from tiny_lm import WORDS, save_tiny_models

from w2s_utils.backbone import load_tokenizer
from w2s_utils.classifier import TextInputs
from w2s_utils.device import DeviceError, resolve_device
from w2s_utils.experiment import Experiment
from w2s_utils.learner import Learner
from w2s_utils.lm_head import ChoiceScorer, LMPrompt, choice_token_ids, load_scorer
from w2s_utils.lora import LoraParams, load_adapter_state
from w2s_utils.models import get_model
from w2s_utils.pipeline import run
from w2s_utils.splits import SplitSizes
from w2s_utils.stages import ceiling, experiment_splits, strong_learner
from w2s_utils.train import TrainConfig

SIZES = SplitSizes(weak_train=40, pool=32, val=16, test=24, holdout=8)
QUICK = TrainConfig(epochs=1, batch_size=8, lr=5e-3, max_length=24, device="cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("tiny_lm"))


def experiment(strong: str, **changes) -> Experiment:
    settings = dict(task="synthetic-sentiment", sizes=SIZES, weak_model="tfidf-logreg",
                    strong_model=strong, regime="lora", lora_train=QUICK, finetune=QUICK,
                    lora=LoraParams(rank=2, alpha=4))
    return Experiment(**{**settings, **changes})


# --------------------------------------------------------------------------- devices


def test_device_auto_uses_a_gpu_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("auto").type == (expected or resolve_device("auto").type)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_absent_device_fails_with_a_clear_error():
    with pytest.raises(DeviceError, match="sees no CUDA GPU.*device='auto' or 'cpu'"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu(tiny, dtype):
    exp = experiment(f"hf:{tiny['bert']}", regime="finetune",
                     finetune=QUICK.model_copy(update={"dtype": dtype}))
    learner = strong_learner(exp, experiment_splits(exp), progress=False)
    targets = experiment_splits(exp)["pool"].labels
    result = learner.fit(targets, val_targets=targets[:16], seed=0, progress=False)
    probs = learner.predict(result, ("test",))["test"]
    assert result.dtype == dtype and result.device == "cpu"
    assert np.isfinite(probs).all() and np.isfinite(result.history[-1]["train_loss"])


def test_gradient_checkpointing_gives_the_same_model(tiny):
    exp = experiment(f"hf:{tiny['bert']}", regime="finetune")
    splits = experiment_splits(exp)
    probs = []
    for checkpointing in (False, True):
        config = QUICK.model_copy(update={"gradient_checkpointing": checkpointing})
        learner = Learner(exp.strong_model, "finetune", splits, config, progress=False)
        result = learner.fit(splits["pool"].labels, val_targets=splits["val"].labels, seed=0,
                             progress=False)
        probs.append(learner.predict(result, ("test",))["test"])
    assert np.allclose(probs[0], probs[1], atol=1e-5)


# --------------------------------------------------------------------------- LoRA


@pytest.mark.parametrize("arch,head", [("bert", "linear"), ("gpt2", "linear"), ("gpt2", "lm")])
def test_lora_training_changes_only_adapter_and_head_weights(tiny, arch, head):
    exp = experiment(f"hf:{tiny[arch]}", head=head)
    splits = experiment_splits(exp)
    learner = strong_learner(exp, splits, progress=False)
    model = learner.new_model(None)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    learner.new_model = lambda _inputs: model  # train exactly this instance
    learner.fit(splits["pool"].labels, val_targets=splits["val"].labels, seed=0,
                progress=False)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert any("lora_B" in n for n in changed)  # the adapters did learn (B starts at zero)


def test_lora_stage_artifact_keeps_the_small_adapter_that_rebuilds_the_model(tiny, fresh_cache):
    exp = experiment(f"hf:{tiny['bert']}")
    artifact = ceiling(exp, progress=False)
    adapter = artifact["adapter"]
    assert adapter and all("lora_" in k or k.startswith("head.") for k in adapter)
    learner = strong_learner(exp, experiment_splits(exp), progress=False)
    model = learner.new_model(None)
    whole = sum(p.numel() for p in model.parameters())
    assert sum(t.numel() for t in adapter.values()) < 0.2 * whole
    load_adapter_state(model, adapter)
    from w2s_utils.classifier import predict_proba

    rebuilt = predict_proba(model, learner.inputs["test"])
    assert np.allclose(rebuilt, artifact["probs"]["test"], atol=1e-5)


def test_lora_runs_end_to_end_and_records_its_regime(tiny, fresh_cache):
    row = run(experiment(f"hf:{tiny['gpt2']}", head="lm"), progress=False)
    assert row["regime"] == "lora" and row["head"] == "lm" and row["device"] == "cpu"
    assert 0 <= row["student_acc"] <= 1


def test_lora_settings_are_typed():
    with pytest.raises(ValueError, match="rank"):
        LoraParams(rank=0)
    with pytest.raises(ValueError, match="head='lm'"):
        Experiment(regime="linear_probe", head="lm")


# --------------------------------------------------------------------------- LM head


def test_lm_head_reads_the_answer_tokens_next_token_logits(tiny):
    spec = get_model(f"hf:{tiny['gpt2']}")
    tokenizer = load_tokenizer(spec)
    prompt = LMPrompt(template="{text} Sentiment :", choices=(" negative", " positive"))
    ids = choice_token_ids(tokenizer, prompt.choices)
    assert ids == (WORDS.index("negative"), WORDS.index("positive"))

    tokenizer.padding_side = "left"
    scorer = load_scorer(spec, tokenizer, prompt).eval()
    texts = prompt.render(["great movie", "the day a love hate awful great movie the day"])
    inputs = TextInputs(texts, tokenizer, 32)
    batch = inputs.batch(np.array([0, 1]))  # the short text is left-padded
    assert batch["attention_mask"][0, 0] == 0
    with torch.no_grad():
        scored = scorer(**batch)
        for row, text in enumerate(texts):  # each text alone, no padding: the plain LM
            alone = torch.tensor([tokenizer(text)["input_ids"]])
            logits = scorer.lm(input_ids=alone).logits[0, -1]
            assert torch.allclose(scored[row], logits[list(ids)], atol=1e-5)

    swapped = ChoiceScorer(scorer.lm, ids[::-1]).eval()
    with torch.no_grad():
        assert torch.allclose(swapped(**batch), scored.flip(-1))


def test_lm_head_answers_must_start_with_different_tokens(tiny):
    tokenizer = load_tokenizer(get_model(f"hf:{tiny['gpt2']}"))
    with pytest.raises(ValueError, match="same token"):
        choice_token_ids(tokenizer, (" Yes", " Yes"))


def test_zero_shot_weak_supervisor_needs_no_training(tiny, fresh_cache):
    exp = experiment(f"hf:{tiny['bert']}", weak_model=f"hf:{tiny['gpt2']}",
                     weak_regime="zero_shot", regime="finetune")
    row = run(exp, progress=False)
    assert row["weak_regime"] == "zero_shot" and 0 <= row["weak_acc"] <= 1
    with pytest.raises(ValueError, match="no causal language-model head"):
        run(exp.with_(weak_model=f"hf:{tiny['bert']}", strong_model=f"hf:{tiny['gpt2']}"),
            progress=False)


# --------------------------------------------------------------------------- GPU profile


def test_gpu_profile_dry_run_lists_runs_and_device_and_skips_offline(monkeypatch, capsys):
    from w2s_utils.config import ParameterError, load_profile
    from w2s_utils.scale import load_sweep_profile, main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    profile = load_sweep_profile("gpu")
    smallest = profile.runs(smallest=True)  # read from the profile: no data needed offline
    assert len(smallest) == 1 and (smallest[0]["weak"], smallest[0]["strong"]) == \
        tuple(profile.ladder[:2])
    assert main(["run", "--profile", "gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{len(profile.runs())} runs" in out and "lora" in out
    assert ("cuda" if torch.cuda.is_available() else "cpu") in out
    assert main(["run", "--profile", "gpu", "--smallest"]) == 0  # offline: skips, trains nothing
    assert "Skipping" in capsys.readouterr().out
    with pytest.raises(ParameterError, match="sweep profile"):
        load_profile("gpu", "01_data")
