#!/usr/bin/env bash
# Kills a training with SIGKILL at a series of moments, resumes it (again and again, until it
# finishes), and compares the result with the same run left alone: the test predictions and the
# best model's outputs for every patch must be the same bytes. Prints one line per kill point.
#
#   scripts/kill-resume.sh [BINARY] [DELAYS...]
#
# BINARY defaults to target/release/idc-studio (or $CARGO_TARGET_DIR's); DELAYS are seconds
# after the start (default: 24 moments spread evenly over the uninterrupted run's time, so that
# kills land in every epoch, at epoch ends and in the final test evaluation on any machine).
set -euo pipefail
binary="${1:-${CARGO_TARGET_DIR:-target}/release/idc-studio}"
shift || true
delays=("$@")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
settings=(--epochs 4 --batch-size 16 --seed 9 --device cpu)

"$binary" demo-data "$work/data" --patients 6 --patches-per-patient 300 --seed 4 >/dev/null
started=$(date +%s.%N)
"$binary" train --data "$work/data" --out "$work/whole" "${settings[@]}" >/dev/null 2>&1
whole_seconds=$(echo "$(date +%s.%N) - $started" | bc)
echo "uninterrupted run: $whole_seconds s"
((${#delays[@]})) || mapfile -t delays < <(awk -v total="$whole_seconds" 'BEGIN { for (k = 1; k <= 24; k++) printf "%.2f\n", total * k / 24 }')
"$binary" predict "$work/whole" "$work/data" --device cpu --out "$work/whole-model.csv" >/dev/null 2>&1

for delay in "${delays[@]}"; do
  run="$work/killed-$delay"
  "$binary" train --data "$work/data" --out "$run" "${settings[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  state="finished before the kill"
  logged=$( (cat "$run/epochs.csv" 2>/dev/null || true) | wc -l)
  ((logged == 0)) || logged=$((logged - 1)) # the header
  [ -f "$run/metrics.json" ] || state="killed after $logged epoch(s) logged, checkpoint $(grep -o '"completed_epochs": [0-9]*' "$run/checkpoint/latest.json" 2>/dev/null | grep -o '[0-9]*$' || echo none)"
  resumes=0
  until [ -f "$run/metrics.json" ]; do
    if [ -f "$run/config.json" ]; then
      "$binary" train --resume --out "$run" >/dev/null 2>"$work/err" || { echo "resume failed: $(cat "$work/err")"; break; }
    else
      # Killed before the run's settings were saved: the same command starts it again.
      "$binary" train --data "$work/data" --out "$run" "${settings[@]}" >/dev/null 2>"$work/err" || { echo "restart failed: $(cat "$work/err")"; break; }
    fi
    resumes=$((resumes + 1))
  done
  same="DIFFERENT"
  # model.bpk files differ in their per-process parameter ids, so the saved models are
  # compared by what they predict for every patch.
  "$binary" predict "$run" "$work/data" --device cpu --out "$work/model-$delay.csv" >/dev/null 2>&1 || true
  cmp -s "$work/whole/predictions.csv" "$run/predictions.csv" && cmp -s "$work/whole-model.csv" "$work/model-$delay.csv" && same="same predictions.csv and model.bpk outputs"
  leftovers=$(find "$run" -name '.tmp-*' | wc -l)
  echo "kill at ${delay}s: $state; $resumes resume(s); $same; $leftovers temporary file(s) left"
done
