#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds, and runs the main job on the shipped default pair: tree
# speculative decoding of the target with the draft. With a display it opens
# SpecMamba Studio with a demo prompt running (every view fills as it runs);
# without one it says so and runs the same job in the command line.
#   scripts/demo.sh            Studio if there is a display, else the CLI
#   scripts/demo.sh --cli      the CLI demo in any case
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
TREE=1,1,1,1,1,1
PROMPT="And God said, Let there be"
if [[ "${1:-}" != "--cli" && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ) ]]; then
  echo "demo: opening SpecMamba Studio on the shipped pair (tree $TREE, replay backtracking)"
  exec ./build/app/specmamba-studio --tree "$TREE" --backtrack replay --prompt "$PROMPT" --max-tokens 2000
fi
[[ "${1:-}" == "--cli" ]] || echo "demo: no display (DISPLAY / WAYLAND_DISPLAY unset): running the CLI demo instead of the Studio"
./build/app/specmamba info
./build/app/specmamba generate --tree "$TREE" --backtrack replay --prompt "$PROMPT" --max-tokens 300
