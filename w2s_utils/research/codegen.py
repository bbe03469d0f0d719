"""The offline proposer's code path: new ``Method`` plug-ins written from a small grammar.

A *genome* picks one option per part of a method, each part taken from a registered
method's mechanism: the targets (weak soft labels as in ``naive``, hardened as in
``naive(hard)``, or sharpened), the training subset (all, or the confident share as in
``confident_filter``), per-example weights (none, or the weak model's confidence) and the
loss (soft cross-entropy, or ``logconf``'s auxiliary confidence loss). ``write_source``
turns a genome into plug-in source that carries its genome in a comment, so any agent
can read an idea off the forum and mutate it (lineage across agents). ``CodeProposer``
starts from the registered baseline, then mutates the best idea it can see (its own or
the forum's, by server score) one part at a time, sometimes drawing a fresh genome; a
research *direction* ("filtering", "loss", …) makes its parts mutate first.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from .proposals import Observation, Proposal, Proposer

GENES: dict[str, list] = {
    "targets": ["soft", "hard", "sharpen:2", "sharpen:4"],
    "subset": ["all", "confident:0.3", "confident:0.5", "confident:0.7"],
    "weights": ["none", "confidence"],
    "loss": ["xent", "logconf:0.25", "logconf:0.5", "logconf:0.75"],
}
# Words of a research direction → the gene it is about.
DIRECTION_WORDS = {"targets": ("target", "label", "relabel", "sharpen", "hard"),
                   "subset": ("filter", "subset", "confident", "select", "data"),
                   "weights": ("weight", "reweight", "importance"),
                   "loss": ("loss", "confidence", "logconf", "regular", "objective")}
GENOME_LINE = re.compile(r"^# genome: (\{.*\})$", re.MULTILINE)


def family(genome: dict) -> str:
    """The kind of method, ignoring its numbers (what diversity is measured over)."""
    return "+".join(f"{k}={str(genome[k]).split(':')[0]}" for k in GENES)


def genome_of(source: str) -> dict | None:
    match = GENOME_LINE.search(source or "")
    if not match:
        return None
    try:
        genome = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(genome, dict) or any(genome.get(k) not in v for k, v in GENES.items()):
        return None
    return genome


def method_name(genome: dict) -> str:
    digest = hashlib.sha1(json.dumps(genome, sort_keys=True).encode()).hexdigest()[:8]
    return f"gen_{digest}"


def write_source(genome: dict) -> str:
    """Plug-in source for ``genome`` (the same contract as ``w2s_utils/methods/``)."""
    name = method_name(genome)
    lines = [f'"""Written by the offline code proposer: {family(genome)}."""',
             f"# genome: {json.dumps(genome, sort_keys=True)}",
             "import numpy as np", "", "from w2s_utils import losses",
             "from w2s_utils.methods.base import Method, StudentContext, register", "", "",
             "@register", "class Generated(Method):", f'    name = "{name}"',
             f'    description = "{family(genome)}"', ""]
    target = genome["targets"]
    lines += ["    def targets(self, ctx: StudentContext) -> np.ndarray:",
              '        p = np.clip(ctx.weak["pool"], 1e-6, 1 - 1e-6)']
    if target == "soft":
        lines += ["        return p"]
    elif target == "hard":
        lines += ["        return (p > 0.5).astype(np.float32)"]
    else:
        power = float(target.split(":")[1])
        lines += [f"        a, b = p ** {power}, (1 - p) ** {power}", "        return a / (a + b)"]
    if genome["subset"] != "all":
        keep = float(genome["subset"].split(":")[1])
        lines += ["", "    def subset(self, ctx: StudentContext) -> np.ndarray:",
                  '        confidence = np.abs(ctx.weak["pool"] - 0.5) * 2',
                  f"        keep = max(1, round({keep} * len(confidence)))",
                  '        return np.sort(np.argsort(-confidence, kind="stable")[:keep])']
    if genome["weights"] == "confidence":
        lines += ["", "    def weights(self, ctx: StudentContext) -> np.ndarray:",
                  '        return np.abs(ctx.weak["pool"] - 0.5) * 2 + 0.05']
    if genome["loss"] != "xent":
        coef = float(genome["loss"].split(":")[1])
        lines += ["", "    def loss(self, ctx: StudentContext):",
                  f"        return losses.logconf({coef}, 0.2)"]
    return "\n".join(lines) + "\n"


class CodeProposer(Proposer):
    """Offline, no key: writes plug-ins from ``GENES`` (module doc)."""

    def __init__(self, seed: int = 0, direction: str = "", explore: float = 0.25,
                 baseline: bool = True):
        """``baseline=False`` skips the naive first step (one per team is enough), so the
        agent's first score, which always sets its ladder, is a code idea's own."""
        self.rng, self.baseline = np.random.default_rng(seed), baseline
        self.direction, self.explore = direction.lower(), explore
        self.focus = [g for g, words in DIRECTION_WORDS.items()
                      if any(w in self.direction for w in words)] or list(GENES)
        self._tried: set[str] = set()

    def propose(self, observation: Observation) -> Proposal:
        if self.baseline and not observation.history and "naive" in observation.space.methods:
            return Proposal(method="naive", idea="naive-baseline",
                            hypothesis="The registered baseline first: what the weak labels "
                                       "give as they are.")
        parent_name, parent = self._best_parent(observation)
        for _ in range(50):
            if parent is None or self.rng.random() < self.explore:
                genome, how = self._random(), "a fresh draw"
                origin = None
            else:
                genome, how = self._mutate(parent), f"a mutation of {parent_name}"
                origin = parent_name
            name = method_name(genome)
            if name not in self._tried:
                self._tried.add(name)
                source = write_source(genome)
                return Proposal(method=name, idea=name, code=source, parent=origin,
                                hypothesis=f"{family(genome)} ({how}; direction: "
                                           f"{self.direction or 'none'}) should recover more "
                                           "of the gap than what it came from.")
        genome = self._random()
        return Proposal(method=method_name(genome), idea=method_name(genome),
                        code=write_source(genome), hypothesis="a fresh draw (all tried)")

    def _random(self) -> dict:
        return {k: v[self.rng.integers(len(v))] for k, v in GENES.items()}

    def _mutate(self, genome: dict) -> dict:
        gene = self.focus[self.rng.integers(len(self.focus))] if self.rng.random() < 0.8 \
            else list(GENES)[self.rng.integers(len(GENES))]
        options = [o for o in GENES[gene] if o != genome[gene]]
        return {**genome, gene: options[self.rng.integers(len(options))]}

    def _best_parent(self, observation: Observation) -> tuple[str | None, dict | None]:
        """The best-scored idea with a genome: own attempts and the forum's code ideas."""
        candidates = []
        for attempt in observation.history:
            pgr = (attempt.score or {}).get("pgr") if (attempt.score or {}).get(
                "new_best", True) else None
            genome = genome_of(attempt.proposal.code) if attempt.proposal else None
            if genome and pgr is not None:
                candidates.append((pgr, attempt.proposal.idea_name(), genome))
        for finding in observation.findings:
            genome = genome_of((finding.get("config") or {}).get("code", ""))
            pgr = (finding.get("verified") or {}).get("pgr")
            if genome and pgr is not None and (finding.get("verified") or {}).get(
                    "new_best", True):
                candidates.append((pgr, finding.get("idea"), genome))
        if not candidates:
            return None, None
        _, name, genome = max(candidates, key=lambda c: c[0])
        return name, genome
