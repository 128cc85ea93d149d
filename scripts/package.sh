#!/usr/bin/env bash
# Packages the app for Linux desktops from the release binary that is already built (CI's tests
# build it; a second, differently optimised build would not fit CI's time): a .deb (cargo-deb)
# and a .tar.gz with an install script, both in dist/. The binary is stripped of its debug
# information but keeps its symbols, so a panic's backtrace in the log still names functions.
# Nothing of the test setup (Mesa's software Vulkan, Xvfb) goes in.
#
#   bash scripts/package.sh        # after cargo build --release (or cargo test --release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${CARGO_TARGET_DIR:-target}"
binary="$target/release/idc-studio"
if [ ! -x "$binary" ]; then
  echo "error: $binary is missing: build it first (cargo build --release --locked)" >&2
  exit 1
fi
command -v cargo-deb >/dev/null || {
  echo "error: cargo-deb is missing: cargo install cargo-deb --locked" >&2
  exit 1
}
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
arch="$(uname -m)"
rm -rf dist
mkdir -p dist
strip --strip-debug -o dist/idc-studio "$binary"

# The .deb: binary, desktop entry, AppStream metainfo and icons (Cargo.toml's [package.metadata.deb]).
cargo deb --no-build --no-strip --output dist/ >/dev/null
deb="$(ls dist/*.deb)"

# The .tar.gz: the same files in the usual layout, and install.sh for any Linux.
name="idc-studio-$version-linux-$arch"
stage="dist/$name"
mkdir -p "$stage/bin" "$stage/share/applications" "$stage/share/metainfo" \
  "$stage/share/icons/hicolor/scalable/apps" "$stage/share/doc/idc-studio"
cp dist/idc-studio "$stage/bin/"
cp assets/idc-studio.desktop "$stage/share/applications/"
cp assets/idc-studio.metainfo.xml "$stage/share/metainfo/"
cp assets/icons/idc-studio.svg "$stage/share/icons/hicolor/scalable/apps/"
for png in assets/icons/idc-studio-*.png; do
  size="${png##*-}"
  size="${size%.png}"
  mkdir -p "$stage/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$stage/share/icons/hicolor/${size}x${size}/apps/idc-studio.png"
done
cp README.md "$stage/share/doc/idc-studio/"
cp scripts/install.sh "$stage/install.sh"
tar -C dist -czf "dist/$name.tar.gz" "$name"
rm -rf "$stage"

echo "binary   $(du -h "$binary" | cut -f1) built, $(du -h dist/idc-studio | cut -f1) stripped"
echo "packages"
ls -l "$deb" "dist/$name.tar.gz"
