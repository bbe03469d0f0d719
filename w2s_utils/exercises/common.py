"""What every exercise check shares: the error it raises, how it compares, calls and
reports, so that each exercise's module holds only its cases and its typical mistakes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class WrongAnswer(AssertionError):
    """An exercise answer that is not right yet; the message says what is wrong."""


def close(a, b, tol: float = 1e-6) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b))
                                             | (np.abs(a - b) <= tol)))


def passed(name: str, why: str) -> None:
    print(f"✓ {name}: correct. {why}")


def run_answer(fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise WrongAnswer(f"{fn.__name__} is not written yet (it raised "
                          "NotImplementedError): replace the `raise` with your code.") from None
    except Exception as error:  # the participant's bug: say where, keep the traceback
        raise WrongAnswer(f"{fn.__name__} raised {type(error).__name__}: {error} "
                          "(its traceback is above this one).") from error

