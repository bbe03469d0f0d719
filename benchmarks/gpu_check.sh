#!/usr/bin/env bash
# One short GPU check (a few minutes): the device, the training loop's speed on it, and the
# GPU profile's smallest pair (Qwen2.5-0.5B → 1.5B on sciq; with no Hub access, the packaged
# SmolLM2-135M → Gemma-3-270M pair on the offline tweets instead).
#   bash benchmarks/gpu_check.sh [OUT]      # numbers land in OUT (default: runs/gpu_check)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-runs/gpu_check}}"
mkdir -p "$OUT"
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export W2S_CACHE_DIR="${W2S_CACHE_DIR:-$OUT/cache}" TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt" || true
"$PY" - <<'PY' | tee -a "$OUT/gpu.txt"
import torch
from w2s_utils.device import describe, resolve_device
print("torch", torch.__version__, "cuda", torch.version.cuda, "->", describe(resolve_device("auto")))
PY
"$PY" benchmarks/run.py --only training_device --out "$OUT/bench.json" | tee "$OUT/bench.txt"
if HF_HUB_OFFLINE=0 "$PY" -c "import huggingface_hub as h; h.model_info('Qwen/Qwen2.5-0.5B')" \
        >/dev/null 2>&1; then
    PROFILE=gpu
else
    echo "[gpu_check] the Hugging Face Hub is out of reach: running profile gpu_offline" \
        | tee -a "$OUT/gpu.txt"
    PROFILE=gpu_offline
fi
HF_HUB_OFFLINE=$([ "$PROFILE" = gpu ] && echo 0 || echo 1) \
    "$PY" -m w2s_utils.scale run --profile "$PROFILE" --smallest 2>&1 | tee "$OUT/smallest_pair.txt"
