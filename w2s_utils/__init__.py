"""w2s_utils: the package behind the weak-to-strong notebooks.

Each module has one job (README, "Architecture"): ``tasks`` and ``sources`` (data),
``splits``, ``models`` (the ladder), ``embedding``, ``train`` (one loop for every
regime), ``methods`` (W2S methods as plug-ins), ``experiment`` (the schema), ``stages``
(weak → ceiling → student, cached), ``pipeline`` (a run and its results row),
``metrics``, ``results``, ``plotting``.
"""

__version__ = "0.1.0"
