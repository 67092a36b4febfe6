#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages SpecMamba Studio builds and tests with.
# Safe to re-run; needs root (or sudo).
set -euo pipefail
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
PKGS=(
  cmake g++ ccache make
  qt6-base-dev qt6-svg-dev libqcustomplot-dev libqcustomplot2.1-qt6
  libhdf5-dev libxrt-dev libxrt1 uuid-dev
  nlohmann-json3-dev libcli11-dev libhwy-dev libopenblas-dev
  libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev
  xvfb xauth python3
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
