#!/usr/bin/env bash
# Issue 11's GPU figures in one prepared run (at most 8 minutes): ViT-B/32 bf16 embedding
# frames/s at batch 256 from decoded frames, and the vip training step's MFU at batch 64
# in bf16. Run from the repository root:
#   bench/gpu.sh                       # on the GPU
#   bench/gpu.sh --device cpu --tiny   # dry run, any machine
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv 2>/dev/null || echo "(no nvidia-smi)"
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
exec timeout 480 "$PYTHON" bench/gpu.py "$@"
