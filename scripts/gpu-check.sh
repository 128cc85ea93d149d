#!/usr/bin/env bash
# The GPU check: wgpu (Vulkan) training and inference throughput at batch 32 and 256 (with our
# depthwise kernels and with burn's), one whole epoch over IDC_regular's ~200,000 training
# patches, per-layer times at batch 256, and PyTorch eager on the same card. About 7 minutes.
# Made for a lent NVIDIA machine that has no Rust toolchain: the release binary built elsewhere
# travels gzipped as .dev/idc-studio.gz with .dev/torch_cancernet.py, and Vulkan's loader as
# .deb files in .gl/ (see docs/gpu-check.md). Every step has its own time limit, so one that
# hangs costs only its share; logs go to OUTDIR.
#
# Usage: scripts/gpu-check.sh [OUTDIR]      (DEVICE=cpu STEPS=8 EPOCH_PATCHES=3000 for a dry run)
set -u
out="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$out"
device="${DEVICE:-gpu}"
steps="${STEPS:-64}"
epoch_patches="${EPOCH_PATCHES:-277524}"
started=$SECONDS

if ls .gl/*.deb >/dev/null 2>&1; then
  for deb in .gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$nvidia_icd" ] && export VK_DRIVER_FILES="$nvidia_icd"
bin=target/release/idc-studio
if [ -f .dev/idc-studio.gz ]; then
  gunzip -c .dev/idc-studio.gz >/tmp/idc-studio && chmod +x /tmp/idc-studio && bin=/tmp/idc-studio
fi
torch_script=.dev/torch_cancernet.py
[ -f "$torch_script" ] || torch_script=../shared/reference/torch_cancernet.py

# step NAME SECONDS COMMAND...: runs one measurement, its output in OUTDIR/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit} s, at $((SECONDS - started)) s): $*"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  echo "   exit ${PIPESTATUS[0]}"
}

{
  echo "== card"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  echo "cpus $(nproc)"
  echo "vulkan icd files: $(find /usr /etc -name '*icd*.json' 2>/dev/null | tr '\n' ' ')"
  echo "loader libs: $(ldconfig -p | grep -o -E 'lib(vulkan|GLX_nvidia|nvidia-glcore)[^ ]*' | sort -u | tr '\n' ' ')"
  echo "vulkan drivers: $(ls /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' ')"
} | tee "$out/card.log"
step wgpu-b32 100 "$bin" bench --device "$device" --runs 5 --steps "$steps"
step wgpu-b256 100 "$bin" bench --device "$device" --runs 5 --steps $((steps / 2)) --batch-size 256
# The same with burn's grouped convolution for the depthwise layers instead of our kernels.
step wgpu-b32-burn-depthwise 80 env IDC_STUDIO_GPU_DEPTHWISE=burn \
  "$bin" bench --device "$device" --runs 3 --steps "$steps"
step wgpu-b256-burn-depthwise 80 env IDC_STUDIO_GPU_DEPTHWISE=burn \
  "$bin" bench --device "$device" --runs 3 --steps $((steps / 2)) --batch-size 256
step torch-b32 80 env PYTHONUNBUFFERED=1 python3 "$torch_script" --device cuda --n 65536 --bs 32
step torch-b256 50 env PYTHONUNBUFFERED=1 python3 "$torch_script" --device cuda --n 65536 --bs 256
step wgpu-epoch 180 "$bin" bench --device "$device" --runs 1 --steps 16 --epoch-patches "$epoch_patches"
step wgpu-layers 60 "$bin" bench --device "$device" --layers --runs 5 --batch-size 256

echo "== summary (images/s; $((SECONDS - started)) s in all)"
cat "$out/card.log"
for log in wgpu-b32 wgpu-b256 wgpu-b32-burn-depthwise wgpu-b256-burn-depthwise torch-b32 torch-b256 \
  wgpu-epoch; do
  echo "-- $log"
  grep -h -E "^(device|depthwise|training|host|inference|pipeline)|^torch_|epoch +(training|test)" "$out/$log.log" 2>/dev/null
done
