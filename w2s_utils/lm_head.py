"""Scoring with a causal LM's own head: the label is read from the next-token logits of
the answer choices.

A text is rendered into a prompt (``"{text}\\nSentiment:"``) and the model's logits for
the first token of each choice (``" negative"``, ``" positive"``) at the next position
are the classifier's two logits. Untrained, that is a zero-shot supervisor; trained
(fully or with LoRA) it is a student that keeps the pretrained head, which small
instruction-tuned models read better than a fresh linear head (the automated W2S
researcher predicts the label as the next token).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from .backbone import load_tokenizer
from .classifier import TextInputs, predict_proba
from .device import check_dtype, resolve_device
from .weights import model_folder


class LMPrompt(BaseModel):
    """How a text is asked: a template with ``{text}`` and the answers for label 0 and 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field("{text}\nAnswer:", description="must contain {text}")
    choices: tuple[str, str] = Field((" No", " Yes"), description="answers for label 0, 1")

    def render(self, texts: list[str]) -> list[str]:
        if "{text}" not in self.template:
            raise ValueError(f"prompt template {self.template!r} has no {{text}} field")
        return [self.template.replace("{text}", t) for t in texts]


_SENTIMENT = LMPrompt(template="{text}\nSentiment:", choices=(" negative", " positive"))
_CORRECT = LMPrompt(template="{text}\nIs the answer correct?", choices=(" No", " Yes"))
TASK_PROMPTS = {  # label 1 is the second choice
    "tweets-sentiment": _SENTIMENT,
    "synthetic-sentiment": _SENTIMENT,
    "amazon_polarity": _SENTIMENT,
    "sciq": _CORRECT,
    "cosmos_qa": _CORRECT,
    "boolq": LMPrompt(template="{text}\nAnswer:", choices=(" No", " Yes")),
    "anthropic_hh": LMPrompt(template="{text}\nWhich conversation is better, A or B? Answer:",
                             choices=(" B", " A")),
}


def default_prompt(task: str) -> LMPrompt:
    """The task's own prompt and choices, or a yes/no question for any other task."""
    return TASK_PROMPTS.get(task, LMPrompt())


def choice_token_ids(tokenizer, choices: tuple[str, str]) -> tuple[int, int]:
    """The first token of each answer; the two must differ (a multi-token answer is
    read by its first token, which is what the model commits to first)."""
    ids = []
    for choice in choices:
        tokens = tokenizer(choice, add_special_tokens=False)["input_ids"]
        if not tokens:
            raise ValueError(f"answer {choice!r} tokenises to nothing")
        ids.append(int(tokens[0]))
    if ids[0] == ids[1]:
        raise ValueError(f"answers {choices} start with the same token ({ids[0]}); choose "
                         "answers whose first tokens differ")
    return ids[0], ids[1]


class ChoiceScorer(torch.nn.Module):
    """A causal LM as a two-way classifier: its logits for the two answer tokens at the
    position after the prompt. Inputs are left-padded, so that position is the last."""

    def __init__(self, lm: torch.nn.Module, choice_ids: tuple[int, int]):
        super().__init__()
        self.lm = lm
        self.register_buffer("choice_ids", torch.tensor(choice_ids, dtype=torch.long),
                             persistent=False)
        keep = inspect.signature(lm.forward).parameters
        self._keep = {"logits_to_keep": 1} if "logits_to_keep" in keep else {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Positions count real tokens only, so left padding does not shift them.
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask,
                      position_ids=positions, **self._keep)
        return out.logits[:, -1, :].index_select(-1, self.choice_ids)


def load_scorer(spec, tokenizer, prompt: LMPrompt) -> ChoiceScorer:
    """A fresh ``ChoiceScorer`` on a model's pretrained causal LM (with its LM head)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging


    hf_logging.disable_progress_bar()
    folder = model_folder(spec)
    if not _is_causal_lm(spec, AutoConfig.from_pretrained(folder)):
        raise ValueError(f"model {spec.name!r} has no causal language-model head, so it "
                         "cannot be scored by answer tokens (head='lm', weak_regime='zero_shot')")
    lm = AutoModelForCausalLM.from_pretrained(folder)
    return ChoiceScorer(lm, choice_token_ids(tokenizer, prompt.choices))


def _is_causal_lm(spec, config) -> bool:
    """Packaged decoders are read at the last token; a Hub model says so in its config
    (an encoder such as BERT would load with a fresh, untrained LM head)."""
    if not spec.hf_path:
        return spec.pooling == "last"
    archs = " ".join(getattr(config, "architectures", None) or [])
    return "CausalLM" in archs or "LMHead" in archs


def left_padded(tokenizer):
    """The tokenizer, set to pad on the left (the scorer reads the last position)."""
    tokenizer.padding_side = "left"
    return tokenizer


def zero_shot_probs(spec, texts: dict[str, list[str]], prompt: LMPrompt, *,
                    device: str = "auto", dtype: str = "fp32", max_length: int = 256,
                    ) -> dict[str, np.ndarray]:
    """P(label 1) per text from an untrained model's answer logits: a weak supervisor that
    needs no labels at all."""
    tokenizer = left_padded(load_tokenizer(spec))
    scorer = load_scorer(spec, tokenizer, prompt).to(torch_device := resolve_device(device))
    check_dtype(torch_device, dtype)
    return {split: predict_proba(scorer, TextInputs(prompt.render(rows), tokenizer, max_length),
                                 batch_size=32, dtype=dtype)
            for split, rows in texts.items()}
