#!/usr/bin/env bash
# idc-studio against the Keras reference (and PyTorch eager, where installed) on this machine's
# CPU, side by side: `idc-studio bench --device cpu` alternated with `keras_cancernet.py bench`
# (and `torch_cancernet.py`) for ROUNDS rounds, so that the machine's drift touches both alike.
# Each round prints both figures and their ratio; compare within a round, not across.
#
# Usage: scripts/compare-cpu.sh [ROUNDS]                         (3 rounds if not given)
#   PYTHON     a Python with TensorFlow 2 (and torch for the PyTorch column); default python3
#   BIN        the idc-studio binary; default target/release/idc-studio
#   REFERENCE  the folder of keras_cancernet.py and torch_cancernet.py; default
#              ../shared/reference
set -u
rounds="${1:-3}"
python="${PYTHON:-python3}"
bin="${BIN:-target/release/idc-studio}"
reference="${REFERENCE:-../shared/reference}"

[ -x "$bin" ] || { echo "error: $bin: no idc-studio binary (cargo build --release)" >&2; exit 1; }
[ -f "$reference/keras_cancernet.py" ] || {
  echo "error: $reference/keras_cancernet.py: not found (set REFERENCE)" >&2
  exit 1
}
"$python" -c "import tensorflow" 2>/dev/null || {
  echo "error: $python cannot import tensorflow (set PYTHON)" >&2
  exit 1
}
with_torch=0
"$python" -c "import torch" 2>/dev/null && with_torch=1

# `figure NAME OUTPUT`: the number after NAME in OUTPUT.
figure() { awk -v name="$1" '$1 == name { print $2; exit }' <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo "idc-studio: $bin; training figure: batch 32, the loss read back every step (as Keras's fit)"
for round in $(seq "$rounds"); do
  ours=$("$bin" bench --device cpu --runs 5 2>&1)
  # The first `training` line reads the loss every step; the second every 16.
  our_training=$(awk '$1 == "training" { print $2; exit }' <<<"$ours")
  our_inference=$(figure inference "$ours")
  keras=$("$python" "$reference/keras_cancernet.py" bench --n 2048 --epochs 1 2>/dev/null)
  keras_training=$(figure keras_train_images_per_s "$keras")
  keras_inference=$(figure keras_infer_images_per_s "$keras")
  line="round $round  training ${our_training:-?} vs Keras ${keras_training:-?} ($(ratio "${our_training:-0}" "${keras_training:-0}"))"
  line+="  inference ${our_inference:-?} vs Keras ${keras_inference:-?} ($(ratio "${our_inference:-0}" "${keras_inference:-0}"))"
  if ((with_torch)); then
    torch=$("$python" "$reference/torch_cancernet.py" --device cpu --n 2048 --bs 32 2>/dev/null)
    torch_training=$(figure torch_train_images_per_s "$torch")
    torch_inference=$(figure torch_infer_images_per_s "$torch")
    line+="  | PyTorch training ${torch_training:-?} ($(ratio "${our_training:-0}" "${torch_training:-0}"))"
    line+=" inference ${torch_inference:-?} ($(ratio "${our_inference:-0}" "${torch_inference:-0}"))"
  fi
  echo "$line"
done
