#!/usr/bin/env bash
# Checks the packages scripts/package.sh made, as a user would install them: the .deb unpacked
# into a temporary root and the .tar.gz installed with its install.sh into a temporary prefix;
# the desktop entry and AppStream metainfo validated; then the installed binary started under a
# virtual screen (Xvfb) on a small demo dataset, where it tours its views and saves screenshots,
# while its window's title, class and icon are read from the X server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

deb="$(ls dist/*.deb)"
tarball="$(ls dist/*.tar.gz)"
work="$(mktemp -d)"
cleanup() {
  [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package check failed: $*" >&2; exit 1; }

echo "== the .deb"
dpkg-deb --info "$deb" | grep -E "Package|Version|Installed-Size|Depends"
dpkg-deb -x "$deb" "$work/root"
for file in usr/bin/idc-studio usr/share/applications/idc-studio.desktop \
  usr/share/metainfo/idc-studio.metainfo.xml usr/share/icons/hicolor/256x256/apps/idc-studio.png \
  usr/share/icons/hicolor/scalable/apps/idc-studio.svg; do
  [ -f "$work/root/$file" ] || fail "the .deb has no $file"
done
if dpkg-deb -c "$deb" | grep -qiE "lavapipe|lvp_icd|libvulkan_lvp|xvfb"; then
  fail "the .deb carries part of the test setup"
fi
desktop-file-validate "$work/root/usr/share/applications/idc-studio.desktop"
if command -v appstreamcli >/dev/null; then
  # Warnings (the id is not reverse-DNS) are allowed; errors are not.
  report="$(appstreamcli validate --no-net "$work/root/usr/share/metainfo/idc-studio.metainfo.xml" || true)"
  echo "$report"
  ! grep -q "^E:" <<<"$report" || fail "the metainfo has errors"
fi
"$work/root/usr/bin/idc-studio" --version

echo "== the .tar.gz"
tar -C "$work" -xzf "$tarball"
PREFIX="$work/prefix" bash "$work"/idc-studio-*/install.sh >/dev/null
desktop-file-validate "$work/prefix/share/applications/idc-studio.desktop"
grep -q "^Exec=$work/prefix/bin/idc-studio" "$work/prefix/share/applications/idc-studio.desktop" ||
  fail "install.sh did not point the desktop entry at the installed program"
[ -f "$work/prefix/share/icons/hicolor/48x48/apps/idc-studio.png" ] || fail "no 48x48 icon installed"

echo "== the installed app under Xvfb"
# Xvfb picks a free display and writes its number once it is ready (never a stale one).
Xvfb -displayfd 3 -screen 0 1500x950x24 -nolisten tcp 3>"$work/display" >/dev/null 2>&1 &
xvfb_pid=$!
for _ in $(seq 200); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || fail "Xvfb did not come up"
display=":$(tr -d '[:space:]' <"$work/display")"
export DISPLAY="$display" WAYLAND_DISPLAY= XDG_RUNTIME_DIR="$work" XDG_DATA_HOME="$work/share"
export IDC_STUDIO_CONFIG_DIR="$work/config"
app="$work/root/usr/bin/idc-studio"
"$app" demo-data "$work/demo" --patients 6 --patches-per-patient 60 >/dev/null
"$app" app --data "$work/demo" --runs "$work/runs" --screenshots "$work/shots" >"$work/app.log" 2>&1 &
app_pid=$!
window=""
for _ in $(seq 600); do
  window="$(xdotool search --name '^idc-studio$' 2>/dev/null | head -n 1 || true)"
  [ -n "$window" ] && break
  kill -0 "$app_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$window" ] || { cat "$work/app.log"; fail "no window titled idc-studio appeared"; }
properties="$(xprop -id "$window" WM_NAME WM_CLASS _NET_WM_ICON | cut -c 1-120)"
echo "$properties" | head -n 3
grep -q 'WM_NAME(.*) = "idc-studio"' <<<"$properties" || fail "the window title is not idc-studio"
grep -q 'WM_CLASS(STRING) = .*"idc-studio"' <<<"$properties" || fail "the window class is not the app id"
grep -q '_NET_WM_ICON(CARDINAL) = ' <<<"$properties" || fail "the window has no icon"
wait "$app_pid" || { cat "$work/app.log"; fail "the installed app's tour failed"; }
app_pid=""
for view in patients training review slide; do
  [ "$(stat -c %s "$work/shots/$view.png")" -gt 20000 ] || fail "the $view screenshot is empty"
done
echo "package check passed: installed, validated, and the installed app drew every view with its icon"
