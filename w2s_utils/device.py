"""Where a model trains and in what precision: settings → torch objects, with clear errors.

``device`` is ``auto`` (a CUDA GPU if torch sees one, else Apple's MPS, else the CPU),
``cpu``, ``cuda``, ``cuda:<i>`` or ``mps``. ``dtype`` is the precision of forward passes:
``fp32``, or mixed precision ``bf16`` / ``fp16`` (weights and optimiser state stay fp32;
autocast runs the matmuls in the low precision, and fp16 losses are scaled so small
gradients do not underflow). Mixed precision pays on GPUs and on CPUs with bf16 in
hardware (AVX512-BF16 or AMX); without it (e.g. Ice Lake) oneDNN emulates bf16 matmuls
at about a quarter of the fp32 rate, which is why bf16 autocast took 4.7× the fp32
time on the development CPU. ``fp32`` is the default for training.

Frozen embedding has its own setting, ``EmbedDType``: ``auto`` runs the encoder with
bf16 weights where the hardware computes bf16 (a CUDA GPU that supports it, a CPU with
AVX512-BF16 or AMX: 3-4x fp32 on such a CPU) and in fp32 elsewhere; pooling stays fp32.
Its features gave the same probe accuracies as fp32's (``benchmarks/precision.json``).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Annotated, Literal

import torch
from pydantic import StringConstraints

DeviceName = Annotated[str, StringConstraints(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")]
DType = Literal["fp32", "bf16", "fp16"]
EmbedDType = Literal["auto", "fp32", "bf16"]
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(RuntimeError):
    """A requested device or precision is not available on this machine."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device a setting names; raises ``DeviceError`` when it is absent."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:<i> or mps") \
            from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise DeviceError(f"device {name!r} was requested but torch ({torch.__version__}, "
                              f"{build}) sees no CUDA GPU; use device='auto' or 'cpu'")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {name!r} was requested but only {count} CUDA GPU(s) "
                              f"exist (cuda:0 … cuda:{count - 1})")
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r} was requested but torch sees no Apple MPS device; "
                          "use device='auto' or 'cpu'")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:<i> or mps")
    return device


def check_dtype(device: torch.device, dtype: DType) -> None:
    """Refuse a precision the device cannot run, instead of failing deep inside a kernel."""
    if dtype == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"{device} does not support bf16; use dtype='fp16' or 'fp32'")
    if dtype == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        warnings.warn("this CPU has no bf16 instructions (AVX512-BF16 or AMX): bf16 runs "
                      "emulated, several times slower than fp32", stacklevel=3)


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware; only then can bf16 beat fp32 on it."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def embed_dtype(device: torch.device, requested: EmbedDType) -> torch.dtype:
    """The weights' precision a frozen encoder runs in on ``device`` (``auto``: bf16 only
    where the hardware computes it, since emulated bf16 is slower than fp32)."""
    if requested == "auto":
        fast = (torch.cuda.is_bf16_supported() if device.type == "cuda"
                else device.type == "cpu" and cpu_has_bf16())
        return torch.bfloat16 if fast else torch.float32
    check_dtype(device, requested)
    return TORCH_DTYPES[requested]


def autocast(device: torch.device, dtype: DType):
    """Mixed-precision context for forward passes (a no-op for fp32)."""
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=TORCH_DTYPES[dtype])


def grad_scaler(device: torch.device, dtype: DType) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (its range underflows small gradients); disabled otherwise."""
    return torch.amp.GradScaler(device.type, enabled=dtype == "fp16")


def enable_gradient_checkpointing(model: torch.nn.Module) -> int:
    """Recompute activations in the backward pass of every transformers model inside
    ``model``: memory grows with layers × batch, so long inputs or big models fit on one
    GPU at ~30% more compute. Returns how many models were switched."""
    switched = 0
    for module in model.modules():
        if getattr(module, "supports_gradient_checkpointing", False) and hasattr(
                module, "gradient_checkpointing_enable"):
            module.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
            switched += 1
    return switched


def describe(device: torch.device) -> str:
    """A short human name for a device: 'cpu (16 threads)', 'cuda:0 (NVIDIA H200)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
