#!/usr/bin/env bash
# Regenerates the packaging icons from icon.svg (Debian: apt-get install
# librsvg2-bin imagemagick icnsutils). The outputs are committed, so building
# installers never needs these tools.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p icons
for s in 16 24 32 48 64 128 256 512 1024; do
  rsvg-convert -w "$s" -h "$s" icon.svg -o "icons/${s}x${s}.png"
done
cp icons/1024x1024.png icon.png
# Windows: one .ico with every size Explorer asks for.
convert icons/16x16.png icons/24x24.png icons/32x32.png icons/48x48.png icons/64x64.png \
  icons/128x128.png icons/256x256.png icon.ico
# macOS: .icns with the PNG-compressed sizes (ic07…ic10 and the small ones).
png2icns icon.icns icons/16x16.png icons/32x32.png icons/48x48.png icons/128x128.png \
  icons/256x256.png icons/512x512.png icons/1024x1024.png >/dev/null
