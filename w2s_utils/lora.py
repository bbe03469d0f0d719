"""LoRA fine-tuning (peft): low-rank adapters in a frozen pretrained trunk.

The published language-model W2S setups train adapters, not whole models: EleutherAI's
``w2s`` uses rank 8 (weak Qwen1.5-0.5B → strong Llama-3-8B), the automated W2S
researcher rank 32 (Qwen3-4B-Base). Only the adapters and the classification head
train, so a run's trained state is a few hundred kB to a few MB: the pipeline keeps it
in the stage artifact (``adapter_state``) instead of a whole model.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field


class LoraParams(BaseModel):
    """Adapter shape: rank, scale (alpha / rank), dropout and which layers get adapters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(8, ge=1, description="EleutherAI w2s: 8; automated W2S researcher: 32")
    alpha: float = Field(16.0, gt=0, description="adapter scale is alpha / rank")
    dropout: float = Field(0.0, ge=0, lt=1, description="0: Burns et al. train without dropout")
    target_modules: list[str] | str = Field(
        "all-linear", description="'all-linear' (every linear layer but the output layer) or "
                                  "module names such as ['q_proj', 'v_proj']")


def _transformers_models(model: torch.nn.Module) -> list[torch.nn.Module]:
    from transformers import PreTrainedModel

    return [m for m in model.modules() if isinstance(m, PreTrainedModel)]


def add_lora(model: torch.nn.Module, params: LoraParams) -> torch.nn.Module:
    """Inject adapters into the transformers model inside ``model`` and freeze its own
    weights; parameters outside it (a classification head) stay trainable."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise ImportError("regime='lora' needs peft: pip install 'w2s-notebooks[lora]'") from None
    found = _transformers_models(model)
    if not found:
        raise ValueError("LoRA needs a transformers model inside the module to adapt")
    trunk = found[0]
    config = LoraConfig(r=params.rank, lora_alpha=params.alpha, lora_dropout=params.dropout,
                        target_modules=params.target_modules, bias="none")
    inject_adapter_in_model(config, trunk)
    for name, parameter in trunk.named_parameters():
        parameter.requires_grad = "lora_" in name
    if not any(p.requires_grad for p in trunk.parameters()):
        raise ValueError(f"LoRA target_modules {params.target_modules!r} matched no layer")
    return model


def adapter_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trained state of a LoRA model: its trainable tensors only (adapters and head)."""
    return {name: p.detach().to("cpu", torch.float32).clone()
            for name, p in model.named_parameters() if p.requires_grad}


def load_adapter_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put a saved adapter state into a model built the same way (base weights + add_lora)."""
    own = dict(model.named_parameters())
    missing = sorted(set(state) - set(own))
    if missing:
        raise KeyError(f"the model has no parameters {missing[:3]}…: build it with the same "
                       "base model and LoRA settings")
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor)
