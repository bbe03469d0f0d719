"""Progress bars (with ETA) that do not flood logs.

On a terminal or in an interactive notebook a bar redraws as usual. Written to a file or a
pipe, or run by the notebook runner (which sets ``W2S_BATCH=1`` for its kernels), it is a
plain text bar updated at most once a minute, so a log keeps a readable ETA.
"""

from __future__ import annotations

import os
import sys

from .paths import BATCH_ENV

QUIET_INTERVAL_S = 60.0


def interactive() -> bool:
    """A terminal, or a Jupyter kernel that a person is watching (not the runner's)."""
    if os.environ.get(BATCH_ENV):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


def progress_bar(*, disable: bool = False, **kwargs):
    """``tqdm`` (the notebook widget when a person watches one), or a once-a-minute text
    bar in logs."""
    if interactive():
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

        kwargs = {"mininterval": QUIET_INTERVAL_S, "maxinterval": QUIET_INTERVAL_S,
                  "file": sys.stderr, **kwargs}
    return tqdm(disable=disable, **kwargs)
