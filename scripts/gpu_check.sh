#!/usr/bin/env bash
# Optimus on a CUDA machine: CPU and CUDA updates agree to 1e-5, step time and peak memory at d = 4096 and
# 65536, meta-training throughput (phymo.optimizer.gpu_check, `phymo bench gpu`). Prints the table and writes
# OUT/gpu_check.json, OUT/gpu_check.txt and OUT/environment.txt.
#
#   scripts/gpu_check.sh [OUT]        OUT: the first argument, else $OUT, else out/gpu_check
#
# Needs a Python with phymo installed and a CUDA build of torch ($PYTHON, default .venv/bin/python, else
# python3). Without a CUDA device it stops at once with one error line and exit code 2; the check itself is
# cut off after $GPU_CHECK_TIMEOUT seconds (default 330) rather than left to hang. About 1-2 min on an H100.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-${OUT:-$repo/out/gpu_check}}"
py="${PYTHON:-$repo/.venv/bin/python}"
[[ -x "$py" ]] || py="$(command -v python3)"
limit="${GPU_CHECK_TIMEOUT:-330}"

fail() { echo "gpu_check: error: $*" >&2; exit 2; }

"$py" -c "import phymo.optimizer" 2>/dev/null \
    || fail "$py cannot import phymo; install it first (make install, or pip install -e . into that Python)"
"$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || fail "torch $("$py" -c 'import torch; print(torch.__version__, "CUDA build:", torch.version.cuda)') sees no CUDA device; run this on a CUDA machine with a CUDA build of torch (PYTHON=...)"

mkdir -p "$out"
{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    git -C "$repo" rev-parse HEAD 2>/dev/null || true
    "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
    nproc
} > "$out/environment.txt"
cat "$out/environment.txt"

set +e
timeout --kill-after=10 "$limit" "$py" -m phymo.app bench gpu --json "$out/gpu_check.json" \
    | tee "$out/gpu_check.txt"
status=${PIPESTATUS[0]}
set -e
[[ $status -eq 124 || $status -eq 137 ]] && fail "the check did not finish within $limit s"
exit "$status"
