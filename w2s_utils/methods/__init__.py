"""W2S methods as plug-ins.

A method is one small file in this folder (or anywhere: call ``register``) that
subclasses ``Method`` and overrides only what it changes: the loss, the targets made
from the weak labels, per-example weights or a subset of the pool, or the whole
training schedule (``run``) for multi-stage methods. The pipeline does the rest.
"""

import importlib
import pkgutil

from .base import (
    METHODS,
    Method,
    NoParams,
    StudentContext,
    get_method,
    method_regime,
    register,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "Method", "NoParams", "StudentContext", "get_method",
           "method_regime", "register"]
