# SPDX-License-Identifier: Apache-2.0
# Sourced by the build scripts: ccache keys objects on paths relative to the
# checkout, so a fresh clone in another folder (CI's) reuses what an earlier
# build on the machine compiled. (Absolute paths stay off the compile lines:
# see cmake/specmamba_paths.h.in.)
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)}
export CCACHE_NOHASHDIR=1
