#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds, and runs the main job on the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/app/specmamba info
./build/app/specmamba generate --prompt "And God said, Let there be" --max-tokens 200
