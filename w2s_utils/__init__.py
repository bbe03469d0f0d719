"""w2s_utils: the package behind the weak-to-strong notebooks.

Each module has one job: ``tasks`` (data and splits; ``datafiles`` reads your own),
``models`` (the encoder ladder), ``train`` (one loop for both regimes), ``methods`` (W2S
methods as plug-ins), ``pipeline`` (weak → ceiling → student, cached), ``metrics``,
``results``, ``plotting``.
"""

__version__ = "0.1.0"
