#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds everything into build/ (Release, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
