"""Checks for the exercise notebooks (``notebooks/exercises/``), one module per exercise.

Each ``check_*`` runs a participant's answer on cases whose right answer is known and
either prints what the answer got right or raises :class:`WrongAnswer` naming the
mistake: it recognises the typical wrong answers (the formula with the wrong
denominator, bins weighted equally, a test that does not pair seeds, ...) by computing
them and comparing. The cases are generated with several random draws, so an answer
tuned to one table does not pass. Notebooks use ``from w2s_utils import exercises``.
"""

from .common import WrongAnswer
from .e1_pgr import check_bootstrap_gap, check_pgr
from .e2_calibration import check_ece, check_temperature
from .e3_method import check_confidence_weights
from .e4_seeds import check_paired_differences, check_seeds_needed, reference_differences
from .e5_hacks import check_flag_hacks, submission_log
from .solution_notebooks import defined_names, with_solutions

__all__ = ["WrongAnswer", "check_bootstrap_gap", "check_confidence_weights", "check_ece",
           "check_flag_hacks", "check_paired_differences", "check_pgr", "check_seeds_needed",
           "check_temperature", "defined_names", "reference_differences", "submission_log",
           "with_solutions"]
