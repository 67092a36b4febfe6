#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds, and runs the main job on the shipped default pair:
# tree speculative decoding of the target with the draft.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/app/specmamba info
./build/app/specmamba generate --tree 1,1,1,1,1 --prompt "And God said, Let there be" --max-tokens 300
