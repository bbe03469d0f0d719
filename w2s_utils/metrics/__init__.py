"""Metrics on ground truth, PGR with paired intervals, and paired method comparisons.

The package's public API; each job lives in its own module: ``scores`` (accuracy,
AUROC, PGR, calibration, packed correctness), ``intervals`` (seed intervals, PGR's
paired bootstrap, correlations), ``tables`` (summary tables and their warnings),
``comparisons`` (paired tests, Holm, verdicts, verdict power) and ``diagnostics``
(imitation and label-free misfit).
"""

from .comparisons import holm, paired_test, paired_verdicts, verdict_power
from .diagnostics import weak_error_imitation, weak_fit_diagnostics
from .intervals import (
    ALPHA,
    BOOTSTRAP_DRAWS,
    correlation_interval,
    interval_side,
    mean_ci,
    pgr_interval,
)
from .scores import (
    classification_metrics,
    expected_calibration_error,
    pack_correct,
    pgr,
    unpack_correct,
)
from .tables import pgr_summary, row_warnings, summarize, warning_summary

__all__ = [
    "ALPHA", "BOOTSTRAP_DRAWS", "classification_metrics", "correlation_interval",
    "expected_calibration_error", "holm", "interval_side", "mean_ci", "pack_correct",
    "paired_test", "paired_verdicts", "pgr", "pgr_interval", "pgr_summary", "row_warnings",
    "summarize", "unpack_correct", "verdict_power", "warning_summary", "weak_error_imitation",
    "weak_fit_diagnostics",
]
