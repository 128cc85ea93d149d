#!/usr/bin/env bash
# Installs idc-studio from this unpacked archive: the program, its desktop entry and icons.
# Into ~/.local by default (no root needed), or PREFIX=/usr/local sudo ./install.sh.
# To remove it, delete the files this script lists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"

install -Dm755 "$here/bin/idc-studio" "$prefix/bin/idc-studio"
echo "$prefix/bin/idc-studio"
cd "$here/share"
find . -type f | while read -r file; do
  install -Dm644 "$file" "$prefix/share/$file"
  echo "$prefix/share/${file#./}"
done
# The desktop entry names the program by its full path: ~/.local/bin is not on every PATH.
sed -i "s|^Exec=idc-studio|Exec=$prefix/bin/idc-studio|" "$prefix/share/applications/idc-studio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$prefix/share/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" || true
echo "installed; start it from your desktop's menu, or run $prefix/bin/idc-studio"
