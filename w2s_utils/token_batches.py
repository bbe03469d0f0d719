"""Token windows and length-sorted batches for frozen-feature embedding.

Windows are sorted by token count and cut into batches of consecutive windows, each
padded only to its own longest member (at most ``batch_size`` windows and
``TOKENS_PER_BATCH`` padded tokens), so padding stays small. Results come back in the
texts' order. A window's vector still moves in the 7th digit with its
batch-mates (padding and batch size choose CPU kernels); a fixed shape per window
removed that but cost 3x on small sets of long texts, so it is not done.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# 64 windows of 512 tokens, what a batch held before; fewer rows only for models that
# read longer windows (decoders), whose batches would otherwise not fit in memory.
TOKENS_PER_BATCH = 32_768

@dataclass(frozen=True)
class Windows:
    """Model inputs for ``n_texts`` texts: one window per text, or up to ``max_chunks``
    consecutive windows of a long text (``owner`` says whose each window is)."""

    ids: list[np.ndarray]
    owner: np.ndarray
    n_texts: int

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids], dtype=np.int64)


def token_windows(tokenizer, texts: list[str], max_length: int, max_chunks: int = 1) -> Windows:
    """Tokenise ``texts`` into windows of at most ``max_length`` tokens (special tokens
    included): the first window only, or the first ``max_chunks`` of a long text."""
    if max_chunks == 1:
        ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        return Windows([np.asarray(x, np.int64) for x in ids], np.arange(len(texts)), len(texts))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("max_chunks > 1 needs a fast (Rust) tokenizer for its overflow windows")
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length,
                        return_overflowing_tokens=True)
    owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    first = np.r_[True, owner[1:] != owner[:-1]]
    rank = np.arange(len(owner)) - np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0))
    keep = rank < max_chunks
    ids = [np.asarray(x, np.int64) for x, k in zip(encoded["input_ids"], keep) if k]
    return Windows(ids, owner[keep], len(texts))


def token_counts(tokenizer, texts: list[str]) -> np.ndarray:
    """Tokens per text with nothing cut (special tokens included)."""
    ids = tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
    return np.array([len(x) for x in ids], dtype=np.int64)


def sorted_batches(lengths: np.ndarray, max_rows: int) -> Iterator[np.ndarray]:
    """Indices of each batch: windows in order of length, at most ``max_rows`` of them
    and at most ``TOKENS_PER_BATCH`` tokens once padded to the batch's longest."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        stop = start + 1
        while (stop < len(order) and stop - start < max_rows
               and (stop - start + 1) * lengths[order[stop]] <= TOKENS_PER_BATCH):
            stop += 1
        yield order[start:stop]
        start = stop


def pad(rows: list[np.ndarray], width: int, pad_id: int, left: bool
        ) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of shape (rows, width), padded on one side."""
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for k, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[k, span] = row
        mask[k, span] = 1
    return ids, mask


def pool_windows(vectors: np.ndarray, windows: Windows) -> np.ndarray:
    """One vector per text: the token-weighted mean of its windows' vectors (a short tail
    window counts for its few tokens, not as much as a full one)."""
    weights = windows.lengths().astype(np.float64)
    total = np.zeros((windows.n_texts, vectors.shape[1]), dtype=np.float64)
    np.add.at(total, windows.owner, vectors * weights[:, None])
    mass = np.bincount(windows.owner, weights=weights, minlength=windows.n_texts)
    return (total / np.maximum(mass, 1e-12)[:, None]).astype(np.float32)
