#!/usr/bin/env bash
# The GPU check: wgpu (Vulkan) training and inference throughput at batch 32 and 256 (with the
# model's GPU layers, and with another formulation of one layer at a time), one whole epoch over
# IDC_regular's ~200,000 training patches, per-layer times at batch 256, each kernel's launches
# and device time per training step, and PyTorch eager on the same card. About 7 minutes for all.
# Made for a lent NVIDIA machine that has no Rust toolchain: the release binary built elsewhere
# travels gzipped as .dev/idc-studio.gz with .dev/torch_cancernet.py, and Vulkan's loader as
# .deb files in .gl/ (see docs/gpu-check.md). Every step has its own time limit, so one that
# hangs costs only its share; the logs end up in OUTDIR/logs.tar.gz (the device tool brings
# back at most 8 files).
#
# Usage: scripts/gpu-check.sh [OUTDIR [MEASUREMENT...]]   (names in `measure` below; all if none)
#        DEVICE=cpu STEPS=8 EPOCH_PATCHES=3000 for a dry run; DEADLINE=seconds to skip steps
#        that would end later. `ab-LAYER` (dropout, max-pool, loss, adagrad, depthwise, norm)
#        times ours and burn's alternately, twice each, at batch 32, so the card's drift cancels
#        (`ab-adagrad-single`: AdaGrad six parameters per launch against one).
set -u
out="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$out"
device="${DEVICE:-gpu}"
# Training steps per timed run at batch 32 (half that at 256): at 64, a run lasted 0.4 s on an
# H100 and runs of one setting spread by up to 20%; the whole epoch, 30 s, was steady.
steps="${STEPS:-256}"
epoch_patches="${EPOCH_PATCHES:-277524}"
started=$SECONDS
# A step that could not end before DEADLINE seconds is skipped, so the summary and the packed
# logs always come back from a run with a time limit.
deadline="${DEADLINE:-100000}"

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
  if ((SECONDS - started + limit > deadline)); then
    echo "== $name skipped: its ${limit} s would pass the deadline (${deadline} s)"
    return
  fi
  echo "== $name (limit ${limit} s, at $((SECONDS - started)) s): $*"
  # How busy the card is while the step runs (the share of each 100 ms in which a kernel ran):
  # near 100 while training, the card is the limit; well below, the host (or the waits) is.
  local sampler=
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 100 >"$out/$name.util" 2>/dev/null &
    sampler=$!
  fi
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  echo "   exit ${PIPESTATUS[0]}"
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
    sort -n "$out/$name.util" | awk '$1 > 0 { busy[n++] = $1 } END {
      if (n) printf "gpu busy %% (of %d samples with a kernel running): median %d, p10 %d, p90 %d\n",
        n, busy[int(n / 2)], busy[int(n / 10)], busy[int(n * 9 / 10)] }' | tee -a "$out/$name.log"
    rm -f "$out/$name.util"
  fi
}

{
  echo "== card"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  echo "cpus $(nproc)"
  echo "vulkan icd files: $(find /usr /etc -name '*icd*.json' 2>/dev/null | tr '\n' ' ')"
  echo "loader libs: $(ldconfig -p | grep -o -E 'lib(vulkan|GLX_nvidia|nvidia-glcore)[^ ]*' | sort -u | tr '\n' ' ')"
  echo "vulkan drivers: $(ls /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' ')"
} | tee "$out/card.log"
# One measurement per name; the command line picks some, in its order, else all of them.
measure() {
  local b32=(bench --device "$device" --runs 3 --steps "$steps")
  local b256=(bench --device "$device" --runs 3 --steps $((steps / 2)) --batch-size 256)
  case $1 in
    # With each kernel's launches and device time per step (after the timed runs).
    wgpu-b32) step "$1" 100 "$bin" bench --device "$device" --runs 5 --steps "$steps" --kernels ;;
    wgpu-b256) step "$1" 100 "$bin" bench --device "$device" --runs 5 --steps $((steps / 2)) --batch-size 256 --kernels ;;
    # The same with another formulation of one layer (src/ops/variants.rs).
    wgpu-b32-burn-depthwise) step "$1" 80 env IDC_STUDIO_GPU_DEPTHWISE=burn "$bin" "${b32[@]}" ;;
    wgpu-b256-burn-depthwise) step "$1" 80 env IDC_STUDIO_GPU_DEPTHWISE=burn "$bin" "${b256[@]}" ;;
    wgpu-b32-channels-last) step "$1" 60 env IDC_STUDIO_GPU_POINTWISE=channels-last "$bin" "${b32[@]}" ;;
    wgpu-b256-channels-last) step "$1" 80 env IDC_STUDIO_GPU_POINTWISE=channels-last "$bin" "${b256[@]}" ;;
    wgpu-b32-burn-norm) step "$1" 60 env IDC_STUDIO_GPU_BATCH_NORM=burn "$bin" "${b32[@]}" ;;
    wgpu-b256-burn-norm) step "$1" 60 env IDC_STUDIO_GPU_BATCH_NORM=burn "$bin" "${b256[@]}" ;;
    wgpu-b32-sums-norm) step "$1" 60 env IDC_STUDIO_GPU_BATCH_NORM=sums "$bin" "${b32[@]}" ;;
    wgpu-b256-sums-norm) step "$1" 60 env IDC_STUDIO_GPU_BATCH_NORM=sums "$bin" "${b256[@]}" ;;
    wgpu-b32-burn-max-pool) step "$1" 60 env IDC_STUDIO_GPU_MAX_POOL=burn "$bin" "${b32[@]}" ;;
    wgpu-b256-burn-max-pool) step "$1" 60 env IDC_STUDIO_GPU_MAX_POOL=burn "$bin" "${b256[@]}" ;;
    wgpu-b32-burn-dropout) step "$1" 60 env IDC_STUDIO_GPU_DROPOUT=burn "$bin" "${b32[@]}" ;;
    wgpu-b256-burn-dropout) step "$1" 60 env IDC_STUDIO_GPU_DROPOUT=burn "$bin" "${b256[@]}" ;;
    wgpu-b32-burn-loss) step "$1" 60 env IDC_STUDIO_GPU_LOSS=burn "$bin" "${b32[@]}" ;;
    wgpu-b256-burn-loss) step "$1" 60 env IDC_STUDIO_GPU_LOSS=burn "$bin" "${b256[@]}" ;;
    wgpu-b32-burn-adagrad) step "$1" 60 env IDC_STUDIO_GPU_ADAGRAD=burn "$bin" "${b32[@]}" ;;
    wgpu-b256-burn-adagrad) step "$1" 60 env IDC_STUDIO_GPU_ADAGRAD=burn "$bin" "${b256[@]}" ;;
    # AdaGrad a parameter per launch (36 a step) instead of six per launch (6 a step).
    wgpu-b256-single-adagrad) step "$1" 60 env IDC_STUDIO_GPU_ADAGRAD=single "$bin" "${b256[@]}" ;;
    torch-b32) step "$1" 80 env PYTHONUNBUFFERED=1 python3 "$torch_script" --device cuda --n 65536 --bs 32 ;;
    torch-b256) step "$1" 50 env PYTHONUNBUFFERED=1 python3 "$torch_script" --device cuda --n 65536 --bs 256 ;;
    ab-*)
      local setting
      case ${1#ab-} in
        dropout) setting=IDC_STUDIO_GPU_DROPOUT=burn ;;
        max-pool) setting=IDC_STUDIO_GPU_MAX_POOL=burn ;;
        loss) setting=IDC_STUDIO_GPU_LOSS=burn ;;
        adagrad) setting=IDC_STUDIO_GPU_ADAGRAD=burn ;;
        adagrad-single) setting=IDC_STUDIO_GPU_ADAGRAD=single ;;
        depthwise) setting=IDC_STUDIO_GPU_DEPTHWISE=burn ;;
        norm) setting=IDC_STUDIO_GPU_BATCH_NORM=burn ;;
        *) echo "no layer called ${1#ab-}"; return ;;
      esac
      for round in 1 2; do
        step "$1-ours-$round" 60 "$bin" "${b32[@]}"
        step "$1-other-$round" 60 env "$setting" "$bin" "${b32[@]}"
      done ;;
    wgpu-epoch) step "$1" 180 "$bin" bench --device "$device" --runs 1 --steps 16 --epoch-patches "$epoch_patches" ;;
    # The trainer at batch 256: until the batch thread rendered with several threads, one
    # thread's 8,000-11,000 images/s capped a real run here, whatever `bench` measured.
    wgpu-epoch-b256) step "$1" 120 "$bin" bench --device "$device" --runs 1 --steps 16 --batch-size 256 --epoch-patches "$epoch_patches" ;;
    wgpu-layers) step "$1" 150 "$bin" bench --device "$device" --layers --runs 5 --batch-size 256 ;;
    *) echo "no measurement called $1" ;;
  esac
}
shift $(($# > 0 ? 1 : 0))
names=("$@")
# Most telling first: with DEADLINE, the later ones are the ones skipped.
[ ${#names[@]} -gt 0 ] || names=(wgpu-b32 wgpu-b256 torch-b32 torch-b256 wgpu-epoch-b256 wgpu-epoch
  wgpu-b256-single-adagrad ab-adagrad-single ab-dropout ab-max-pool ab-loss wgpu-layers)
for name in "${names[@]}"; do measure "$name"; done

echo "== summary (images/s; $((SECONDS - started)) s in all)"
cat "$out/card.log"
# Every step's log, in the order they ran.
for log in $(cd "$out" && ls -tr -- *.log 2>/dev/null); do
  log=${log%.log}
  [ "$log" = wgpu-layers ] || [ "$log" = card ] && continue
  echo "-- $log"
  grep -h -E "^(device|layer |training|host|kernels|inference|pipeline|gpu busy)|^torch_|epoch +(training|test)" "$out/$log.log" 2>/dev/null
done
(cd "$out" && tar czf logs.tar.gz ./*.log && rm -f ./*.log)
