#!/usr/bin/env bash
# What a person waits for and what the app holds: the release app started on the demo dataset
# (generated first if missing), the times to its first frame and to the dataset being open (from
# the app's log), and its resident memory once the dataset is open. Under Xvfb when there is no
# display. Each round starts a new process; the first round after a boot reads a cold disk.
#
#   bash scripts/startup.sh [BINARY] [ROUNDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary="${1:-${CARGO_TARGET_DIR:-target}/release/idc-studio}"
rounds="${2:-3}"
work="$(mktemp -d)"
trap 'kill "${app_pid:-}" "${xvfb_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -z "${DISPLAY:-}" ]; then
  Xvfb :96 -screen 0 1500x950x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 100); do [ -e /tmp/.X11-unix/X96 ] && break; sleep 0.1; done
  export DISPLAY=:96
fi
export WAYLAND_DISPLAY= XDG_RUNTIME_DIR="$work" IDC_STUDIO_CONFIG_DIR="$work/config"
demo="${IDC_STUDIO_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/idc-studio/demo-data}"
"$binary" demo-data "$demo" >/dev/null 2>&1 || true # an existing demo dataset is kept
for round in $(seq "$rounds"); do
  share="$work/share-$round"
  started="$(date +%s%N)"
  XDG_DATA_HOME="$share" "$binary" app --data "$demo" >/dev/null 2>&1 &
  app_pid=$!
  log=""
  seen_frame=""
  for _ in $(seq 6000); do
    log="$(cat "$share"/idc-studio/logs/idc-studio.log.* 2>/dev/null || true)"
    if [ -z "$seen_frame" ] && grep -q "first frame" <<<"$log"; then
      seen_frame="$(( ($(date +%s%N) - started) / 1000000 ))"
    fi
    grep -q "dataset open" <<<"$log" && break
    sleep 0.01
  done
  seen_open="$(( ($(date +%s%N) - started) / 1000000 ))"
  sleep 1 # the first tiles drawn
  rss="$(awk '/VmRSS/ {print $2, $3}' "/proc/$app_pid/status")"
  first="$(grep -o 'first frame after [0-9]* ms' <<<"$log" | grep -o '[0-9]*' || echo '?')"
  open="$(grep -o 'dataset open [0-9]* ms' <<<"$log" | grep -o '[0-9]*' || echo '?')"
  echo "round $round: from the command: first frame ${seen_frame} ms, dataset open ${seen_open} ms;" \
    "in the app: first frame ${first} ms, dataset open ${open} ms; resident memory $rss"
  kill "$app_pid"
  wait "$app_pid" 2>/dev/null || true
  app_pid=""
done
