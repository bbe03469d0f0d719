"""The agent loop: observe → propose → train on label-free data → submit → share → repeat.

The agent reaches the task only through the evaluation server: it fetches texts, ids and
weak soft labels (``ResearchClient.label_free_splits``), trains students with the
registered methods through the pipeline's own student path (``stages.fit_student`` on
a ``stages.strong_learner``), submits ``test`` predictions for a server score, posts a
finding with the hypothesis, config and that score, and stops at its iteration or
wall-time budget. At
the end its best ideas (by the feedback PGR they set on the server's ladder: a submission
that did not climb has no score of its own) spend their one blind ``holdout`` scoring.

    python -m w2s_utils.research.agent --server http://127.0.0.1:8000 --proposer search
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..experiment import Experiment
from ..stages import fit_student, strong_learner
from .client import ResearchClient, ServerError
from .codegen import CodeProposer
from .proposals import (
    Attempt,
    MethodSpace,
    Observation,
    Proposal,
    ProposalError,
    Proposer,
    Usage,
)
from .proposers import make_proposer
from .sandbox import CodeError, SandboxLimits, namespaces_available, run_code
from .search import SearchProposer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    iterations: int = 10
    wall_seconds: float = 1800.0
    holdout_ideas: int = 1  # best ideas that get their blind holdout scoring at the end
    seeds: int = 1  # those ideas are submitted with this many training seeds (the seed gate)


@dataclass
class AgentReport:
    attempts: list[Attempt] = field(default_factory=list)
    holdout: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str | None = None  # the server's words when a budget ended the run

    def scored(self) -> list[Attempt]:
        return [a for a in self.attempts if a.score is not None]


class ResearchAgent:
    def __init__(self, client: ResearchClient, proposer: Proposer | None = None,
                 progress: bool = False, sandbox: SandboxLimits | None = None,
                 allow_unisolated: bool = False):
        self.client, self.proposer = client, proposer or SearchProposer()
        self.progress = progress
        self.sandbox, self.allow_unisolated = sandbox or SandboxLimits(), allow_unisolated
        info = client.task()
        self.task = {"experiment": info["experiment"], "baselines": info["baselines"]}
        self.experiment = Experiment(**info["experiment"])
        self.splits, self.weak = client.label_free_splits()
        self.learner = strong_learner(self.experiment, self.splits, progress)
        self.space = MethodSpace.for_experiment(self.experiment)
        self.cpu_seconds = 0.0  # spent by sandboxed code ideas
        self._predictions: dict[str, dict[str, np.ndarray]] = {}

    def train(self, proposal: Proposal, seed: int | None = None) -> dict[str, np.ndarray]:
        """A student under ``proposal`` (training ``seed``: the task's by default): P(y=1)
        on ``test`` and ``holdout`` (a code idea trains in the sandbox; CodeError if it
        fails there)."""
        exp = self.experiment if seed is None else self.experiment.with_(seed=seed)
        if proposal.code is not None:
            return self.train_code(proposal, exp)
        knobs = exp.train_config.model_copy(update=proposal.train)
        regime_field = "probe" if exp.regime == "linear_probe" else "finetune"
        exp = exp.with_(method=proposal.method, method_params=proposal.params,
                        **{regime_field: knobs.model_dump()})
        learner = copy.copy(self.learner)  # shares the embedded inputs, not the config
        learner.config = exp.train_config
        result = fit_student(exp, learner, self.weak, self.progress)
        return learner.predict(result, ("test", "holdout"))

    def train_code(self, proposal: Proposal, exp: Experiment) -> dict[str, np.ndarray]:
        if self.experiment.regime != "linear_probe":
            raise CodeError("contract", "code ideas run on the linear_probe regime only")
        isolated = namespaces_available()
        if not isolated and not self.allow_unisolated:
            raise CodeError("contract", "this machine cannot build the sandbox (no user "
                            "namespaces); pass allow_unisolated=True to run code ideas "
                            "without isolation")
        knobs = exp.train_config.model_copy(update=proposal.train)
        exp = exp.with_(probe=knobs.model_dump())
        features = {s: inputs.x.numpy() for s, inputs in self.learner.inputs.items()}
        run = run_code(proposal.code, proposal.params, exp, self.splits, features, self.weak,
                       self.sandbox, isolation="namespaces" if isolated else "process")
        self.cpu_seconds += run.cpu_seconds
        return run.predictions

    def train_costed(self, proposal: Proposal, seed: int | None = None,
                     tokens=None) -> dict[str, np.ndarray]:
        """``train``, then report its CPU-seconds (this process and the sandbox's) and
        the proposal's LLM tokens to the ledger: a ServerError 429 there stops the run."""
        cpu, sandbox = time.process_time(), self.cpu_seconds
        try:
            return self.train(proposal, seed)
        finally:
            spent = time.process_time() - cpu + self.cpu_seconds - sandbox
            usage = tokens or Usage()
            self.client.report_cost(proposal.idea_name(), spent, model=usage.model,
                                    input_tokens=usage.input_tokens,
                                    output_tokens=usage.output_tokens)

    def share_failure(self, proposal: Proposal, error: str) -> int | None:
        """A code idea that failed is still a finding: its code and what went wrong."""
        if proposal.code is None:
            return None
        return self.client.post_finding(
            proposal.hypothesis, idea=proposal.idea_name(),
            config={**proposal.config(), "code": proposal.code},
            body=f"failed: {error}"[:2000])["id"]

    def step(self, history: list[Attempt]) -> Attempt:
        """One observe → propose → train → submit → share iteration."""
        start = time.perf_counter()
        observation = Observation(self.space, history, self.client.leaderboard(),
                                  self.client.findings(limit=20), self.task)
        before = self.proposer.usage()
        try:
            proposal = self.proposer.propose(observation)
        except ProposalError as error:
            return Attempt(None, error=str(error), seconds=time.perf_counter() - start)
        after = self.proposer.usage()
        tokens = Usage(after.model, after.input_tokens - before.input_tokens,
                       after.output_tokens - before.output_tokens)
        try:
            predictions = self.train_costed(proposal, tokens=tokens)
        except CodeError as error:  # the idea's code failed in the sandbox: one attempt
            self.proposer.tell(proposal, None)
            message = f"CodeError[{error.kind}]: {error.message}"
            return Attempt(proposal, error=message, finding_id=self.share_failure(
                proposal, message), seconds=time.perf_counter() - start)
        except ServerError:  # the ledger refused the cost (a budget is spent): stop
            raise
        except (ValueError, RuntimeError) as error:  # a proposal the method cannot run
            self.proposer.tell(proposal, None)
            return Attempt(proposal, error=f"{type(error).__name__}: {error}",
                           seconds=time.perf_counter() - start)
        idea, test = proposal.idea_name(), self.splits["test"]
        score = self.client.submit(idea, test.ids, predictions["test"], proposal.config())
        self._predictions[idea] = predictions
        # The ladder repeats the agent's best unless this beat it by one step: only a new
        # best is this proposal's own score; otherwise all we know is "not better".
        self.proposer.tell(proposal, score["pgr"] if score.get("new_best", True) else None)
        config = proposal.config()
        if proposal.code is not None:  # the code travels with the finding (lineage: parent)
            config["code"] = proposal.code
        finding = self.client.post_finding(
            proposal.hypothesis, idea=idea, config=config,
            submission_id=score["submission_id"],
            body=f"{proposal.method} {json.dumps(proposal.params)} training "
                 f"{json.dumps(proposal.train)}: feedback accuracy {score['accuracy']}, "
                 f"PGR {score['pgr']}; flags {score['flags'] or 'none'}.")
        return Attempt(proposal, score=score, finding_id=finding["id"],
                       seconds=time.perf_counter() - start)

    def run(self, budget: Budget = Budget()) -> AgentReport:
        report = AgentReport()
        start = time.monotonic()
        for i in range(budget.iterations):
            if time.monotonic() - start > budget.wall_seconds:
                log.info("wall-time budget spent after %d iterations", i)
                break
            try:
                attempt = self.step(report.attempts)
            except ServerError as error:
                if error.status == 429:  # a submission, CPU or dollar budget is spent
                    log.info("budget spent: %s", error.detail)
                    report.stopped = str(error.detail)
                    break
                raise
            report.attempts.append(attempt)
            log.info("iteration %d: %s", i + 1, attempt.summary())
        try:
            self.confirm_seeds(report, budget)
        except ServerError as error:
            if error.status != 429:
                raise
            log.info("budget spent while confirming seeds: %s", error.detail)
            report.stopped = str(error.detail)
        report.holdout = self.blind_scores(report, budget.holdout_ideas)
        report.seconds = time.monotonic() - start
        return report

    def confirm_seeds(self, report: AgentReport, budget: Budget) -> None:
        """Submit the best ideas with ``budget.seeds - 1`` more training seeds, so they
        pass the leaderboard's seed gate (each is one more submission)."""
        first = self.experiment.seed
        for attempt in self.best_ideas(report, budget.holdout_ideas):
            for seed in range(first + 1, first + budget.seeds):
                try:
                    predictions = self.train_costed(attempt.proposal, seed)
                except ServerError:
                    raise
                except (CodeError, ValueError, RuntimeError) as error:  # this seed failed
                    log.info("seed %d of %s failed: %s", seed, attempt.proposal.idea_name(),
                             error)
                    continue
                self.client.submit(attempt.proposal.idea_name(), self.splits["test"].ids,
                                   predictions["test"],
                                   {**attempt.proposal.config(), "train_seed": seed})

    def best_ideas(self, report: AgentReport, count: int) -> list[Attempt]:
        """The ``count`` ideas with the highest feedback PGR they set themselves."""
        best: dict[str, Attempt] = {}
        for attempt in report.scored():
            idea = attempt.proposal.idea_name()
            if attempt.score["pgr"] is not None and attempt.score.get("new_best", True) and (
                    idea not in best or attempt.score["pgr"] > best[idea].score["pgr"]):
                best[idea] = attempt
        return sorted(best.values(), key=lambda a: -a.score["pgr"])[:count]

    def blind_scores(self, report: AgentReport, count: int) -> list[dict]:
        """Spend the best ideas' one holdout scoring each, and share the outcome."""
        results = []
        for attempt in self.best_ideas(report, count):
            idea = attempt.proposal.idea_name()
            try:
                result = self.client.holdout(idea, self.splits["holdout"].ids,
                                             self._predictions[idea]["holdout"],
                                             attempt.proposal.config())
            except ServerError as error:  # already scored in an earlier run, or no budget
                log.info("holdout for %s refused: %s", idea, error.detail)
                continue
            self.client.post_finding(
                f"Blind holdout check of {idea}", idea=idea, config=attempt.proposal.config(),
                body=f"holdout PGR {result['pgr']} (95% interval {result.get('pgr_low')} to "
                     f"{result.get('pgr_high')}) vs feedback PGR {result['feedback_pgr']}; "
                     f"flags {result['flags'] or 'none'}.")
            results.append(result)
        return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m w2s_utils.research.agent",
                                     description="Run the automated W2S researcher.")
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--key", help="API key (default $W2S_API_KEY)")
    parser.add_argument("--proposer", default="search",
                        choices=["search", "code", "anthropic", "openai"])
    parser.add_argument("--direction", default="", help="research direction (code proposer)")
    parser.add_argument("--model", help="LLM model name (LLM proposers)")
    parser.add_argument("--base-url", help="LLM API base URL (LLM proposers)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-time budget")
    parser.add_argument("--holdout-ideas", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="search proposer seed")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        if args.proposer == "code":
            proposer = CodeProposer(seed=args.seed, direction=args.direction)
        else:
            options = ({"seed": args.seed} if args.proposer == "search"
                       else {"model": args.model, "base_url": args.base_url})
            proposer = make_proposer(args.proposer, **options)
    except ValueError as error:
        parser.error(str(error))
    with ResearchClient(args.server, args.key) as client:
        report = ResearchAgent(client, proposer, progress=args.progress).run(
            Budget(args.iterations, args.minutes * 60, args.holdout_ideas))
    print(json.dumps({"attempts": [a.summary() for a in report.attempts],
                      "holdout": report.holdout, "seconds": round(report.seconds, 1)},
                     indent=2, default=str))


if __name__ == "__main__":
    main()
