"""Frozen features of texts: ``embed`` runs a model of the ladder (or TF-IDF, or a
tabular task's own columns) and caches each text's vector on disk."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from . import embedding_cache, token_batches
from .backbone import load_backbone, load_tokenizer, pool
from .device import EmbedDType
from .models import ModelSpec, get_model


def model_cache_id(spec: ModelSpec, fit_texts: list[str] | None = None) -> str:
    """What determines a model's features: its name, weights and any fitted state."""
    parts = [spec.name, *(f.sha256 for f in spec.files)]
    if spec.kind == "bow":
        if not fit_texts:
            raise ValueError("tfidf-logreg needs fit_texts: the texts its vocabulary is fitted on")
        parts.append(embedding_cache.text_hash("\x00".join(fit_texts)))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def embed(
    model: str,
    texts: list[str],
    *,
    features: np.ndarray | None = None,
    fit_texts: list[str] | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    max_chunks: int = 1,
    dtype: EmbedDType = "auto",
    progress: bool = True,
) -> np.ndarray:
    """Frozen features for ``texts``, shape (n, dim), float32; cached per text on disk.

    A neural model reads the first ``max_length`` tokens of a text, or, with
    ``max_chunks`` > 1, up to that many consecutive ``max_length``-token windows whose
    vectors are averaged (weighted by their tokens). TF-IDF and tabular features read
    the whole row. Texts are embedded in length-sorted batches (``token_batches``). A
    repeat call for texts already embedded runs no model.

    ``dtype`` is a torch encoder's weight precision (``device.embed_dtype``). The cache
    is keyed by the setting, not by what ``auto`` resolved to, like the device: a cache
    filled where ``auto`` meant bf16 serves a machine where it means fp32 (the two
    give the same probe accuracy within noise, ``benchmarks/precision.json``).
    """
    if dtype not in get_args(EmbedDType):
        raise ValueError(f"dtype must be one of {get_args(EmbedDType)}, got {dtype!r}")
    spec = get_model(model)
    if spec.kind == "features":
        if features is None:
            raise ValueError("model 'raw-features' needs a tabular task (features=...)")
        return np.asarray(features, dtype=np.float32)
    if spec.kind == "bow":
        return _tfidf(texts, fit_texts)
    if max_length < 8 or max_chunks < 1:
        raise ValueError(f"need max_length >= 8 and max_chunks >= 1, got {max_length}, "
                         f"{max_chunks}")
    # fp32 keeps the key it had before the setting existed.
    precision = "" if dtype == "fp32" or spec.kind != "hf" else f":{dtype}"
    cache_key = f"{model_cache_id(spec)}:{max_length}x{max_chunks}{precision}"
    return embedding_cache.cached(
        cache_key, texts, lambda todo: _embed_uncached(spec, todo, batch_size, max_length,
                                                        max_chunks, dtype, progress)
    )


def _tfidf(texts: list[str], fit_texts: list[str] | None) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not fit_texts:
        raise ValueError("tfidf-logreg needs fit_texts: the texts its vocabulary is fitted on")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=20_000,
                                 sublinear_tf=True)
    vectorizer.fit(fit_texts)
    return vectorizer.transform(texts).astype(np.float32).toarray()


def _embed_uncached(spec: ModelSpec, texts: list[str], batch_size: int, max_length: int,
                    max_chunks: int, dtype: EmbedDType, progress: bool) -> np.ndarray:
    if spec.kind == "static":
        import static_model

        # Static vectors are a mean over tokens: windows averaged by their tokens are the
        # mean over the first max_length · max_chunks tokens.
        folder = [file.verified_path() for file in spec.files][0].parent  # verifies all
        return np.asarray(static_model.encode_batch(str(folder), list(texts),
                                                    max_length * max_chunks),
                          dtype=np.float32).reshape(len(texts), -1)
    tokenizer = load_tokenizer(spec)
    limit = getattr(tokenizer, "model_max_length", None) or 0
    if 0 < limit < 100_000 and max_length > limit:
        raise ValueError(f"max_length={max_length} is more than {spec.name} reads "
                         f"({limit} tokens); set max_length <= {limit} and max_chunks > 1 "
                         "to cover longer texts")
    forward = _onnx_forward(spec) if spec.kind == "onnx" else _torch_forward(spec, dtype)
    return _embed_windows(token_batches.token_windows(tokenizer, texts, max_length, max_chunks),
                          forward, tokenizer, batch_size, progress, f"embed {spec.name}")


def _embed_windows(windows: token_batches.Windows, forward, tokenizer, batch_size: int,
                   progress: bool, desc: str) -> np.ndarray:
    """Run ``forward`` over length-sorted batches of the windows; one vector per text, in
    the texts' order."""
    from .progress import progress_bar

    pad_id = int(tokenizer.pad_token_id)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    vectors: np.ndarray | None = None
    bar = progress_bar(total=len(windows.ids), desc=desc, disable=not progress, leave=False)
    lengths = windows.lengths()
    for rows in token_batches.sorted_batches(lengths, batch_size):
        ids, mask = token_batches.pad([windows.ids[i] for i in rows], int(lengths[rows].max()),
                                      pad_id, left)
        out = forward(ids, mask)
        if vectors is None:
            vectors = np.zeros((len(windows.ids), out.shape[1]), dtype=np.float32)
        vectors[rows] = out
        bar.update(len(rows))
    bar.close()
    if vectors is None:
        return np.zeros((0, 0), dtype=np.float32)
    if len(windows.ids) == windows.n_texts:  # one window per text: nothing to pool
        result = np.empty_like(vectors)
        result[windows.owner] = vectors
        return result
    return token_batches.pool_windows(vectors, windows)


def _onnx_forward(spec: ModelSpec):
    session = _onnx_session(spec.files[0].verified_path())
    token_output = session.get_outputs()[2].name  # (batch, seq, 384) token states

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (states,) = session.run([token_output], {"input_ids": ids, "attention_mask": mask})
        return pool(torch.from_numpy(states), torch.from_numpy(mask), "mean").numpy()

    return forward


@lru_cache(maxsize=2)
def _onnx_session(path: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _torch_forward(spec: ModelSpec, dtype: EmbedDType):
    from .device import embed_dtype, resolve_device

    device = resolve_device("auto")  # a GPU when there is one
    backbone = load_backbone(spec).eval()
    backbone.trunk.to(device, embed_dtype(device, dtype))

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = backbone(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            return out.cpu().numpy()

    return forward
