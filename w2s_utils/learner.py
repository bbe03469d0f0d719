"""Trains and applies one model in one regime on one task's splits: the adaptor between
the experiment's stages (and methods) and the training loop."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .backbone import load_backbone, load_tokenizer
from .classifier import Classifier, FeatureInputs, Standardize, TextInputs, without_dropout
from .embedding import embed
from .lm_head import LMPrompt, default_prompt, left_padded, load_scorer
from .lora import LoraParams, add_lora
from .models import get_model
from .tasks import SPLITS, TaskSplits
from .train import PROBE_DEFAULTS, Loss, TrainConfig, TrainResult, soft_cross_entropy, train

Regime = Literal["linear_probe", "finetune", "lora"]
Head = Literal["linear", "lm"]
PREDICTED_SPLITS = ("pool", "val", "test", "holdout")


class Subset:
    """A view of some rows of another inputs object (for filtering methods)."""

    def __init__(self, inputs, rows: np.ndarray):
        self.inputs, self.rows = inputs, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, idx):
        return self.inputs.batch(self.rows[np.asarray(idx)])

    def lengths(self):
        lengths = self.inputs.lengths()
        return None if lengths is None else lengths[self.rows]


class Learner:
    """Trains and applies one model in one regime on one task's splits.

    ``head="lm"`` reads a causal LM's answer-token logits (``prompt``) instead of a new
    linear head; ``regime="lora"`` trains adapters (``lora``) in a frozen trunk.
    """

    def __init__(self, model: str, regime: Regime, splits: TaskSplits, config: TrainConfig,
                 train_split: str = "pool", progress: bool = True, *, head: Head = "linear",
                 lora: LoraParams | None = None, prompt: LMPrompt | None = None):
        self.spec = get_model(model)
        self.regime, self.splits, self.config = regime, splits, config
        self.train_split = train_split
        self.head, self.lora, self.prompt = head, lora or LoraParams(), prompt
        if regime == "linear_probe":
            features = split_features(model, splits, config, progress=progress)
            self.inputs = {s: FeatureInputs(x) for s, x in features.items()}
        else:
            self.tokenizer = load_tokenizer(self.spec)
            render = list
            if head == "lm":
                self.prompt = prompt or default_prompt(splits.task)
                self.tokenizer, render = left_padded(self.tokenizer), self.prompt.render
            self.inputs = {s: TextInputs(render(splits[s].texts), self.tokenizer,
                                         config.max_length) for s in SPLITS}

    def new_model(self, train_inputs) -> torch.nn.Module:
        if self.regime == "linear_probe":
            return Classifier(Standardize(train_inputs.x))
        if self.head == "lm":
            model = without_dropout(load_scorer(self.spec, self.tokenizer, self.prompt))
        else:
            model = Classifier(without_dropout(load_backbone(self.spec)))
        return add_lora(model, self.lora) if self.regime == "lora" else model

    def fit(self, targets: np.ndarray, *, val_targets: np.ndarray, seed: int,
            loss: Loss = soft_cross_entropy, weights: np.ndarray | None = None,
            subset: np.ndarray | None = None, progress: bool = True,
            desc: str = "train") -> TrainResult:
        inputs = self.inputs[self.train_split]
        targets = np.asarray(targets, np.float32)
        if subset is not None:
            if len(subset) == 0:
                raise ValueError("the method kept no training examples")
            inputs, targets = Subset(inputs, subset), targets[subset]
            weights = None if weights is None else np.asarray(weights)[subset]
        base = self.inputs[self.train_split]
        model = self.new_model(base if isinstance(base, FeatureInputs) else None)
        return train(model, inputs, targets, self.config, seed=seed, loss=loss,
                     weights=weights, val_inputs=self.inputs["val"], val_targets=val_targets,
                     progress=progress, desc=f"{desc} [{self.spec.name}, {self.regime}]")

    def predict(self, result: TrainResult, splits=PREDICTED_SPLITS) -> dict[str, np.ndarray]:
        return {s: result.predict(self.inputs[s]) for s in splits}


def split_features(model: str, splits: TaskSplits, config: TrainConfig = PROBE_DEFAULTS,
                   progress: bool = True) -> dict:
    """Frozen features of every split, reading ``config.max_length`` tokens per window and
    ``config.max_chunks`` windows per text (TF-IDF is fitted on ``weak_train`` texts only)."""
    fit_texts = splits["weak_train"].texts if get_model(model).kind == "bow" else None
    texts = [t for s in SPLITS for t in splits[s].texts]
    features = None
    if splits["weak_train"].features is not None:
        features = np.concatenate([splits[s].features for s in SPLITS])
    matrix = embed(model, texts, features=features, fit_texts=fit_texts, progress=progress,
                   max_length=config.max_length, max_chunks=config.max_chunks,
                   dtype=config.embed_dtype)
    bounds = np.cumsum([0] + [len(splits[s]) for s in SPLITS])
    return {s: matrix[bounds[i]:bounds[i + 1]] for i, s in enumerate(SPLITS)}
