"""A packaged GGUF model, dequantised once into a safetensors folder in the model cache.

transformers re-parses a GGUF file and dequantises every tensor on each load: for
gemma3-270m that is ~100 s and a 3.3 GB peak, and a fine-tuning run loads a fresh
backbone per seed. The folder holds the same float32 weights, config and tokenizer, so
it loads in seconds at a third of the memory and gives bit-identical outputs
(``tests/test_models.py``). The folder name carries the GGUF's sha256 and the
transformers version that dequantised it, so a new file or a new converter rebuilds it.
The conversion runs in a process of its own: its 3.3 GB peak is returned to the system
when it ends, instead of staying with the kernel or test process that asked for it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

WEIGHTS = "model.safetensors"


def dequantized_folder(gguf: Path, sha256: str, into: Path) -> Path:
    """The folder of ``gguf`` (verified by the caller) under ``into``, built on first use."""
    import transformers

    target = into / f"hf-{sha256[:12]}-transformers-{transformers.__version__}"
    if not (target / WEIGHTS).exists():
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        print(f"[w2s] dequantising {gguf.name} once into {into} (a minute or two)",
              file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, "-m", __name__, str(gguf), str(staging)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"dequantising {gguf} failed: {last}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # atomic: an interrupted conversion is never loaded
    return target


def _share_one_reader() -> None:
    """transformers parses the whole GGUF (for gemma3, a 262k-token vocabulary read string
    by string) for the tokenizer, for each config it reads and for the weights. In this
    one-shot process they all get the same read-only, memory-mapped reader. The folder it
    writes is byte-identical, and the peak RSS is the same (3.27 GB, `/usr/bin/time`)."""
    import gguf

    parse, readers = gguf.GGUFReader, {}

    def shared(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = parse(path, mode)
        return readers[key]

    gguf.GGUFReader = shared


def _convert(gguf: Path, out: Path) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _share_one_reader()
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = lm.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights below are plain float32
    config.save_pretrained(out)
    # One copy of each tensor: a tied LM head is the input embedding under a second name,
    # and named_parameters() lists it once, by its first (the embedding's) name.
    unique = {name for name, _ in lm.named_parameters()} | {n for n, _ in lm.named_buffers()}
    state = {name: tensor.contiguous() for name, tensor in lm.state_dict().items()
             if name in unique}
    save_file(state, out / WEIGHTS, metadata={"format": "pt"})


if __name__ == "__main__":
    _convert(Path(sys.argv[1]), Path(sys.argv[2]))
