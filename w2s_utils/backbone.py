"""Pretrained trunks as torch modules: a transformers model plus pooling, and its
tokenizer, for fine-tuning and for embedding texts."""

from __future__ import annotations

import torch

from .models import MINILM_TOKENIZER, MODELS, ModelSpec, get_model
from .weights import model_folder


class Backbone(torch.nn.Module):
    """A transformers trunk plus pooling: texts' token states → one vector per text."""

    def __init__(self, trunk: torch.nn.Module, pooling: str):
        super().__init__()
        self.trunk = trunk
        self.pooling = pooling
        self.hidden_size = int(trunk.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.trunk(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # Pooled in fp32 whatever the trunk ran in: a bf16 mean would round its sum.
        return pool(states.float(), attention_mask, self.pooling)


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "mean":
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    if how == "last":
        # The last real token, wherever the padding sits (left or right).
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)
        return states[torch.arange(states.shape[0], device=states.device), last]
    raise ValueError(f"unknown pooling {how!r}; use 'mean' or 'last'")


def load_tokenizer(spec: ModelSpec):
    from transformers import AutoTokenizer

    if spec.kind == "onnx":
        return AutoTokenizer.from_pretrained(MINILM_TOKENIZER.verified_path().parent)
    tokenizer = AutoTokenizer.from_pretrained(model_folder(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_backbone(spec: ModelSpec) -> Backbone:
    """A fresh copy of a model's pretrained trunk, ready to fine-tune or embed."""
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor "Loading weights" bars drown notebook output
    if not spec.finetunable:
        raise ValueError(
            f"model {spec.name!r} cannot be fine-tuned here; use the linear_probe regime or "
            f"one of {[n for n in MODELS if get_model(n).finetunable]}"
        )
    folder = model_folder(spec)
    config = AutoConfig.from_pretrained(folder)
    trunk = AutoModel.from_pretrained(folder)
    pooling = spec.pooling if not spec.hf_path else _guess_pooling(config)
    return Backbone(trunk, pooling)


def _guess_pooling(config) -> str:
    """Causal LMs are read at the last real token; encoders are mean pooled."""
    archs = " ".join(getattr(config, "architectures", None) or [])
    causal = getattr(config, "is_decoder", False) or "CausalLM" in archs or "LMHead" in archs
    return "last" if causal else "mean"
