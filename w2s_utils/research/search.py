"""The offline proposer: Optuna's TPE over the method space, learning from server scores."""

from __future__ import annotations

import optuna

from .proposals import MethodSpace, Observation, Proposal, ProposalError, Proposer


class SearchProposer(Proposer):
    """Optuna TPE over methods, their params and the training knobs; starts from naive."""

    def __init__(self, seed: int = 0, max_draws: int = 50):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5))
        self.max_draws = max_draws
        self._pending: dict[str, optuna.trial.Trial] = {}
        self._seen: dict[str, float | None] = {}

    def propose(self, observation: Observation) -> Proposal:
        space = observation.space
        if not self.study.trials and "naive" in space.methods:
            defaults = {f"naive.{k}": v["default"] for k, v in
                        space.methods["naive"]["params"].items() if "default" in v}
            self.study.enqueue_trial({"method": "naive", **defaults, **{
                f"train.{k}": v for k, v in space.train_defaults.items()}})
        for _ in range(self.max_draws):
            trial = self.study.ask()
            proposal = self._sample(trial, space, observation)
            key = proposal.idea_name()
            if key in self._seen:  # an already-scored config: answer from memory
                self._finish(trial, self._seen[key])
                continue
            self._pending[key] = trial
            return proposal
        raise ProposalError(f"no untried configuration in {self.max_draws} draws")

    def tell(self, proposal: Proposal, pgr: float | None) -> None:
        key = proposal.idea_name()
        self._seen[key] = pgr
        if (trial := self._pending.pop(key, None)) is not None:
            self._finish(trial, pgr)

    def _finish(self, trial, pgr: float | None) -> None:
        if pgr is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, pgr)

    def _sample(self, trial, space: MethodSpace, observation: Observation) -> Proposal:
        method = trial.suggest_categorical("method", sorted(space.methods))
        params = {}
        for name, schema in space.methods[method]["params"].items():
            value = _suggest(trial, f"{method}.{name}", schema)
            if value is not _DEFAULT:
                params[name] = value
        train = {name: trial.suggest_float(f"train.{name}", knob.low, knob.high, log=knob.log)
                 for name, knob in space.train.items()}
        scores = [a.score["pgr"] for a in observation.history
                  if a.score is not None and a.score["pgr"] is not None]
        best = f"{max(scores):.3f}" if scores else "none yet"
        hypothesis = (f"TPE search, trial {trial.number}: {method} with params {params} and "
                      f"training {_short(train)} should recover more of the weak-to-strong gap "
                      f"than the best feedback PGR so far ({best}).")
        return space.validate(Proposal(method=method, params=params, train=train,
                                       hypothesis=hypothesis))


_DEFAULT = object()


def _suggest(trial, name: str, schema: dict):
    """An Optuna draw for one pydantic-schema field; _DEFAULT where the range is open."""
    if "enum" in schema:
        return trial.suggest_categorical(name, list(schema["enum"]))
    kind = schema.get("type")
    if kind == "boolean":
        return trial.suggest_categorical(name, [False, True])
    if kind not in ("integer", "number"):
        return _DEFAULT
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None or high is None:
        return _DEFAULT
    log = low > 0 and high / low >= 100
    if kind == "integer":
        low += "exclusiveMinimum" in schema
        high -= "exclusiveMaximum" in schema
        return trial.suggest_int(name, int(low), int(high), log=log)
    tiny = 1e-9 * max(1.0, abs(high - low))
    return trial.suggest_float(name, low + tiny * ("exclusiveMinimum" in schema),
                               high - tiny * ("exclusiveMaximum" in schema), log=log)


def _short(values: dict) -> dict:
    return {k: float(f"{v:.3g}") for k, v in values.items()}
