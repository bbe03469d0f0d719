"""Tiny randomly initialised Hugging Face models, saved as local folders for ``hf:<folder>``."""

from pathlib import Path

import torch

WORDS = ["[PAD]", "[UNK]", "great", "awful", "movie", "day", "love", "hate", "the", "a",
         "negative", "positive", "Sentiment", ":", "Answer", "No", "Yes", "\n"]


def tokenizer():
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers import models as tok_models
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    core = Tokenizer(tok_models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]")


def save_tiny_models(root: Path) -> dict[str, Path]:
    """A 2-layer BERT encoder and a 2-layer GPT-2 causal LM (hidden size 32)."""
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    models = {
        "bert": BertModel(BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64)),
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=len(WORDS), n_embd=32, n_layer=2,
                                           n_head=2, n_positions=64)),
    }
    folders = {}
    for name, model in models.items():
        folder = root / name
        model.save_pretrained(folder)
        tokenizer().save_pretrained(folder)
        folders[name] = folder
    return folders
