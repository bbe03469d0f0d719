"""Filter, then relabel (after Shi et al., ACL 2025): keep the weak labels the weak model
is sure of, let a student trained on them relabel the rest, then train on all of it.

The weak model's confident labels are its most accurate ones; a student fitted to them
alone has not seen the noisiest labels, so where it disagrees with an unconfident weak
label it is more often right than a student that saw every label. Unlike
``confident_filter`` the discarded examples are not lost: they come back with the first
student's labels. Only the filtered examples' labels change (on pool and on val, which
the final fit uses for checkpoint selection).
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import Method, StudentContext, register


class FilterRelabelParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_frac: float = Field(0.5, gt=0, lt=1)  # share of pool kept with its weak label
    hard: bool = True  # relabel with the first student's thresholded prediction


def most_confident(probs: np.ndarray, keep_frac: float) -> np.ndarray:
    """Mask of the ``keep_frac`` share of ``probs`` furthest from 0.5 (ties by position)."""
    keep = max(1, round(keep_frac * len(probs)))
    mask = np.zeros(len(probs), bool)
    mask[np.argsort(-np.abs(np.asarray(probs) - 0.5), kind="stable")[:keep]] = True
    return mask


@register
class FilterRelabel(Method):
    name = "filter_relabel"
    description = "train on the confident weak labels; that student relabels the rest; retrain"
    Params = FilterRelabelParams
    published_setting = (
        "Shi et al. (ACL 2025) fine-tuned LLM students (billions of parameters) whose "
        "weak labels came from prompted LLMs, with self-consistency over sampled answers "
        "to choose which labels to keep; our weak labels are one probe's probabilities "
        "and the student a 23M-parameter encoder")

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        kept = {s: most_confident(ctx.weak[s], ctx.params.keep_frac) for s in ("pool", "val")}
        first = ctx.fit(ctx.weak["pool"], subset=np.flatnonzero(kept["pool"]),
                        desc="filtered student")
        guesses = ctx.learner.predict(first, ("pool", "val"))
        labels = {}
        for split, guess in guesses.items():
            if ctx.params.hard:
                guess = (guess > 0.5).astype(np.float32)
            labels[split] = np.where(kept[split], ctx.weak[split], guess).astype(np.float32)
        return labels
