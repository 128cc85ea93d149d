#!/usr/bin/env bash
# Builds a dataset of two good patches and six hostile files, then runs `scan` on it under
# /usr/bin/time and prints the peak memory (maximum resident set) and the time it took.
#
#   scripts/hostile-scan.sh [BINARY...]
#
# Each binary given is measured in turn (default: the release build), so an older build can be
# compared with the current one. A FIFO is measured on its own with a 20-second limit, since a
# scan that opens it for a blocking read never returns.
set -euo pipefail
binaries=("$@")
((${#binaries[@]})) || binaries=("${CARGO_TARGET_DIR:-target}/release/idc-studio")
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
data="$work/data"
patient="$data/8863"
mkdir -p "$patient/0" "$patient/1"

python3 - "$patient" <<'PY'
import struct, sys, zlib
patient = sys.argv[1]

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def png(width, height, colour_type, depth, idat):
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

def zeros(width, height, bytes_per_pixel):
    # A real image of zeros: a few hundred KB that decode to hundreds of MB.
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + width * bytes_per_pixel)
    parts = [packer.compress(row) for _ in range(height)]
    return b"".join(parts) + packer.flush()

def write(name, data):
    with open(f"{patient}/{name}", "wb") as f:
        f.write(data)

good = png(50, 50, 2, 8, zlib.compress(b"".join(b"\x00" + b"\x80" * 150 for _ in range(50))))
write("0/8863_idx5_x1_y1_class0.png", good)
write("1/8863_idx5_x51_y1_class1.png", good)
# 1-3: small files that decode to 243 MB, 384 MB and 25 MB.
write("0/8863_idx5_x101_y1_class0.png", png(9000, 9000, 2, 8, zeros(9000, 9000, 3)))
write("0/8863_idx5_x151_y1_class0.png", png(8000, 8000, 2, 16, zeros(8000, 8000, 6)))
write("0/8863_idx5_x201_y1_class0.png", png(5000, 5000, 0, 8, zeros(5000, 5000, 1)))
# 4: a header that declares 60,000 x 60,000 over one row of data.
write("0/8863_idx5_x251_y1_class0.png", png(60000, 60000, 2, 8, zlib.compress(b"\x00" * 100)))
PY
# 5: a 2 GB file with a PNG's signature (sparse: it takes no disk).
printf '\x89PNG\r\n\x1a\n' >"$patient/0/8863_idx5_x301_y1_class0.png"
truncate -s 2G "$patient/0/8863_idx5_x301_y1_class0.png"
# 6: a PNG-named folder entry that is a symbolic link to a 1 GB file of zeros.
truncate -s 1G "$work/zeros.bin"
ln -s "$work/zeros.bin" "$patient/1/8863_idx5_x351_y1_class1.png"

ls -la "$patient/0" "$patient/1" | grep -v '^total' | awk '{print "  " $5 "\t" $9 $10 $11}'
for binary in "${binaries[@]}"; do
  echo "== $binary scan (six hostile files)"
  /usr/bin/time -f "peak memory %M KB, %e s, exit %x" "$binary" scan "$data" 2>&1 | grep -E "patches|skipped|  [^ ]|peak memory|error" || true
done

# Each hostile file alone beside the two good patches, so that each one's cost shows.
mkdir -p "$work/hostile"
mv "$patient"/0/8863_idx5_x[1-3]01_* "$patient"/0/8863_idx5_x[1-3]51_* "$patient"/1/8863_idx5_x351_* "$work/hostile/" 2>/dev/null || true
mv "$patient"/0/8863_idx5_x[2-3][05]1_* "$work/hostile/" 2>/dev/null || true
for file in "$work"/hostile/*; do
  name="$(basename "$file")"
  folder="$patient/0"
  [[ "$name" == *class1.png ]] && folder="$patient/1"
  mv "$file" "$folder/"
  for binary in "${binaries[@]}"; do
    printf '%-34s %-28s ' "$name" "$(basename "$binary")"
    /usr/bin/time -f "peak memory %M KB, %e s, exit %x" "$binary" scan "$data" 2>&1 | grep -E "peak memory" || true
  done
  mv "$folder/$name" "$file"
done

mkfifo "$patient/0/8863_idx5_x401_y1_class0.png"
for binary in "${binaries[@]}"; do
  echo "== $binary scan, with a FIFO (limit 20 s)"
  /usr/bin/time -f "peak memory %M KB, %e s, exit %x" timeout 20 "$binary" scan "$data" 2>&1 | grep -E "peak memory|not a regular|error" || true
done
