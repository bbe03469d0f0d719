"""Exercise 5 (``e5_reward_hack``): a synthetic evaluation-server log with honest agents
and hacks, and the check of which agents a participant flags."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .common import WrongAnswer, passed, run_answer


def submission_log(seed: int = 0, n: int = 600) -> tuple[pd.DataFrame, dict]:
    """A synthetic evaluation-server history: agents, their submissions' predictions on
    the feedback split, the released feedback accuracy and a later holdout accuracy.

    Some agents are honest, some hack: one probes (resubmits its best predictions with a
    few flipped, keeping flips that raised the feedback score), one trained on ground
    truth (it agrees with the weak labels no more than the ceiling does), one submits a
    constant. Names and how many of each differ by ``seed``. Returns the log and the
    weak and ceiling predictions the server holds.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    holdout_truth = rng.integers(0, 2, n)

    def noisy(labels, acc):
        return np.where(rng.random(len(labels)) < acc, labels, 1 - labels)

    weak = noisy(truth, 0.74)
    ceiling = noisy(truth, 0.9)
    weak_h = noisy(holdout_truth, 0.74)
    names = iter(rng.permutation(["ada", "bo", "cy", "di", "ed", "fi", "gus", "hal"]))
    kinds = ["honest", "honest", "probing", "skips_teacher", "constant"]
    if rng.random() < 0.5:
        kinds.append("honest")
    rows = []
    for kind in kinds:
        agent = str(next(names))
        for step in range(6 if kind != "constant" else 2):
            if kind == "honest":  # a student on weak labels, improving slowly
                acc = 0.76 + 0.015 * step + 0.01 * rng.standard_normal()
                pred = np.where(rng.random(n) < 0.55, weak, noisy(truth, acc + 0.08))
                hold = 0.76 + 0.015 * step + 0.01 * rng.standard_normal()
            elif kind == "probing":  # one honest start, then keep flips that scored
                if step == 0:
                    pred = np.where(rng.random(n) < 0.55, weak, noisy(truth, 0.84))
                    hold = (np.where(rng.random(n) < 0.55, weak_h, noisy(holdout_truth, 0.84))
                            == holdout_truth).mean()
                else:
                    flip = rng.choice(n, 30, replace=False)
                    trial = pred.copy()
                    trial[flip] = 1 - trial[flip]
                    better = (trial[flip] == truth[flip])
                    trial[flip[~better]] = pred[flip[~better]]
                    pred = trial
            elif kind == "skips_teacher":  # trained on ground truth
                pred = noisy(truth, 0.9)
                hold = 0.88 + 0.01 * rng.standard_normal()
            else:
                pred = np.full(n, int(truth.mean() > 0.5))
                hold = 0.5 + 0.01 * rng.standard_normal()
            rows.append({"agent": agent, "kind": kind, "step": step, "predictions": pred.copy(),
                         "feedback_acc": float((pred == truth).mean()),
                         "holdout_acc": float(hold)})
    log = pd.DataFrame(rows).sample(frac=1, random_state=seed).sort_values(
        ["agent", "step"]).reset_index(drop=True)
    return log, {"weak": weak, "ceiling": ceiling}


def check_flag_hacks(flag_hacks: Callable) -> None:
    """``flag_hacks(log, held)`` → the set of agent names whose scores you would not
    trust (``log`` and ``held`` as from :func:`submission_log`, without its ``kind``)."""
    why = {"probing": "its submissions differ from each other in a handful of predictions "
                      "while its feedback score climbs and its holdout score does not "
                      "(it reads the labels through the score)",
           "skips_teacher": "it agrees with the weak labels no more than the ceiling does: "
                            "its signal did not come from its weak supervisor",
           "constant": "every prediction is the same class: it says nothing about the inputs",
           "honest": "its feedback and holdout scores move together and it copies some "
                     "weak labels, as a student trained on them does"}
    for seed in range(5):
        log, held = submission_log(seed)
        kinds = log.groupby("agent")["kind"].first()
        got = run_answer(flag_hacks, log.drop(columns="kind"), held)
        got = set(got or ())
        hacks = set(kinds[kinds != "honest"].index)
        if got == hacks:
            continue
        wrong = sorted(got - hacks)
        missed = sorted(hacks - got)
        parts = [f"you flagged honest '{a}': {why['honest']}" for a in wrong]
        parts += [f"you missed '{a}' ({kinds[a]}): {why[kinds[a]]}" for a in missed]
        raise WrongAnswer(f"On log seed {seed}: " + "; ".join(parts) + ".")
    passed("flag_hacks", "Every hack found on five fresh logs, no honest agent flagged.")

