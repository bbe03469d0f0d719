"""The classifier both regimes train, and the inputs it reads.

A body (frozen features behind a standardiser, or a pretrained trunk) under a
zero-initialised 2-way head; features arrive as row slices, texts are tokenised once
and padded per batch. Prediction runs in length order so a batch pads little.
"""

from __future__ import annotations

import numpy as np
import torch

from .device import DType, autocast

# --------------------------------------------------------------------------- inputs


class FeatureInputs:
    """Frozen features; batches are row slices."""

    def __init__(self, features: np.ndarray):
        self.x = torch.as_tensor(np.asarray(features, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return {"x": self.x[torch.as_tensor(idx)]}

    def lengths(self) -> None:
        return None  # fixed-size rows: nothing to bucket


class TextInputs:
    """Texts tokenised once; each batch is padded only to its own longest text."""

    def __init__(self, texts: list[str], tokenizer, max_length: int):
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
        self.ids = [np.asarray(x, dtype=np.int64) for x in encoded["input_ids"]]
        self.pad_id = int(tokenizer.pad_token_id)
        self.left = getattr(tokenizer, "padding_side", "right") == "left"

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids])

    def batch(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        rows = [self.ids[i] for i in idx]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for k, row in enumerate(rows):
            span = slice(width - len(row), width) if self.left else slice(0, len(row))
            ids[k, span] = row
            mask[k, span] = 1
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


# --------------------------------------------------------------------------- modules


class Standardize(torch.nn.Module):
    """Feature standardisation fitted on the training features (probe regime)."""

    def __init__(self, train_x: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", train_x.mean(0))
        self.register_buffer("scale", train_x.std(0).clamp(min=1e-6))
        self.hidden_size = train_x.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class Classifier(torch.nn.Module):
    """A body (features → vector) and a zero-initialised, bias-free 2-way linear head."""

    def __init__(self, body: torch.nn.Module):
        super().__init__()
        self.body = body
        self.head = torch.nn.Linear(body.hidden_size, 2, bias=False)
        torch.nn.init.zeros_(self.head.weight)

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(**batch))


def without_dropout(module: torch.nn.Module) -> torch.nn.Module:
    """Burns et al. train without dropout; it also makes runs reproducible."""
    for child in module.modules():
        if isinstance(child, torch.nn.Dropout):
            child.p = 0.0
    return module


# --------------------------------------------------------------------------- prediction


def predict_proba(model: torch.nn.Module, inputs, batch_size: int = 256,
                  dtype: DType = "fp32") -> np.ndarray:
    """P(y=1) for every example, in inference mode, batched in length order, on the
    device the model's weights are on."""
    model.eval()
    device = model_device(model)
    out = np.zeros(len(inputs), dtype=np.float32)
    order = length_order(inputs)
    with torch.inference_mode(), autocast(device, dtype):
        for start in range(0, len(inputs), batch_size):
            idx = order[start:start + batch_size]
            logits = model(**to_device(inputs.batch(idx), device)).float()
            out[idx] = torch.softmax(logits, -1)[:, 1].cpu().numpy()
    return out


def model_device(model: torch.nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def length_order(inputs) -> np.ndarray:
    lengths = inputs.lengths()
    return np.arange(len(inputs)) if lengths is None else np.argsort(lengths, kind="stable")
