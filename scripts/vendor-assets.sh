#!/usr/bin/env bash
# Updates the dashboard's vendored files in assets/vendor/ from the npm registry (through
# the machine's npm), pinned: Apache ECharts' dist/echarts.min.js, topojson-client's
# dist/topojson-client.min.js, and world-atlas' countries-110m.json (Natural Earth's
# country shapes, public domain), each with its licence. The binary compiles them in,
# so the dashboard needs no CDN.
#
#   scripts/vendor-assets.sh [ECHARTS_VERSION] [TOPOJSON_CLIENT_VERSION] [WORLD_ATLAS_VERSION]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ECHARTS=${1:-6.1.0}
TOPOJSON=${2:-3.1.0}
ATLAS=${3:-2.0.2}
DEST=$ROOT/assets/vendor
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack --silent "echarts@$ECHARTS" "topojson-client@$TOPOJSON" "world-atlas@$ATLAS" >/dev/null
for pkg in "echarts-$ECHARTS" "topojson-client-$TOPOJSON" "world-atlas-$ATLAS"; do
  mkdir "$pkg" && tar xzf "$pkg.tgz" -C "$pkg"
done
cp "echarts-$ECHARTS/package/dist/echarts.min.js" "$DEST/echarts.min.js"
cp "echarts-$ECHARTS/package/LICENSE" "$DEST/echarts.LICENSE"
cp "echarts-$ECHARTS/package/NOTICE" "$DEST/echarts.NOTICE"
cp "topojson-client-$TOPOJSON/package/dist/topojson-client.min.js" "$DEST/topojson-client.min.js"
cp "topojson-client-$TOPOJSON/package/LICENSE" "$DEST/topojson-client.LICENSE"
cp "world-atlas-$ATLAS/package/countries-110m.json" "$DEST/countries-110m.json"
cp "world-atlas-$ATLAS/package/LICENSE" "$DEST/world-atlas.LICENSE"
sed -i -E "s/^(\| \`echarts.min.js\` \| Apache ECharts )[0-9.]+/\1$ECHARTS/; s/^(\| \`topojson-client.min.js\` \| topojson-client )[0-9.]+/\1$TOPOJSON/; s/^(\| \`countries-110m.json\` \| world-atlas )[0-9.]+/\1$ATLAS/" "$DEST/README.md"
echo "vendored: echarts $ECHARTS, topojson-client $TOPOJSON, world-atlas $ATLAS -> assets/vendor/ (rebuild the dashboard)"
