#!/usr/bin/env bash
# Regenerates the README's dashboard screenshots (docs/screenshots/): runs the browser
# test that opens every page in headless Chromium against the local emulators (with a
# history from datagen and live sales it publishes), then copies what it saved.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/emulators.sh start >/dev/null
eval "$(scripts/emulators.sh env)"
cargo test --quiet --test dashboard every_page_renders_every_chart_with_the_exact_figures
cargo test --quiet --test dashboard a_period_a_comparison_and_filters_from_the_url_give_exact_figures
mkdir -p docs/screenshots
for page in batch streaming instashop inventory batch-filtered; do
  cp "target/screenshots/$page.png" "docs/screenshots/$page.png"
done
echo "screenshots: docs/screenshots/{batch,streaming,instashop,inventory,batch-filtered}.png"
