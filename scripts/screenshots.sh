#!/usr/bin/env bash
# Makes the README's screenshots: the release app tours every view on the demo dataset (it
# picks a patient, opens the slide, trains one epoch and reviews the false negatives) and saves
# a picture of each, with what it measured, in docs/screenshots/. Without a display it starts
# a virtual one (Xvfb; .ci/run installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="${1:-docs/screenshots}"
work="$(mktemp -d)"
trap 'kill "${xvfb_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --locked
binary="${CARGO_TARGET_DIR:-target}/release/idc-studio"

if [ -z "${DISPLAY:-}" ]; then
  Xvfb :97 -screen 0 1500x950x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 100); do [ -e /tmp/.X11-unix/X97 ] && break; sleep 0.1; done
  export DISPLAY=:97
fi
mkdir -p "$out"
# Settings and runs of the tour stay out of the user's own.
IDC_STUDIO_CONFIG_DIR="$work/config" XDG_RUNTIME_DIR="$work" WAYLAND_DISPLAY= \
  "$binary" app --demo --runs "$work/runs" --screenshots "$out"
echo "screenshots in $out:"
ls -l "$out"
