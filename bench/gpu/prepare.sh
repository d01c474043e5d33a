#!/usr/bin/env bash
# `make gpu-prepare`: everything the one GPU run needs that the GPU machine lacks, fetched here into
# git-ignored folders that travel with the working tree (see bench/gpu/run.sh and docs/gpu.md):
#   .whl/  x86-64 CPython 3.12 wheels of what the GPU run imports beyond the machine's own packages
#          (moderngl + glcontext for headless EGL; no torch, the machine has a CUDA build; no PyAV,
#          35 MB that the GPU stages never import)
#   .gl/   Debian's GL loader packages (libEGL/libGL/libglvnd) for amd64
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
WHEELS=${GPU_WHEELS:-"moderngl glcontext"}
rm -rf .whl .gl
mkdir -p .whl .gl
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl $WHEELS
lists=/tmp/livegan-amd64-lists
mkdir -p "$lists/partial"
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${o[@]}" update -qq
(cd .gl && apt-get "${o[@]}" download -qq libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
echo "prepared:"
ls -1 .whl .gl
kit=$(du -cb .whl .gl | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | grep total$ | awk '{s+=$1} END {print s}')
shared=0
[ -d shared ] && shared=$(du -sb shared | cut -f1)
total=$((kit + tree + shared))
printf 'kit %.1f MiB + tracked tree %.1f MiB = %.1f MiB of the 64 MiB a run may carry\n' \
  "$(echo "$kit / 1048576" | bc -l)" "$(echo "($tree + $shared) / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt $((48 * 1048576)) ]; then
  echo "gpu-prepare: the kit and the tree are over 48 MiB: too close to the 64 MiB limit" >&2
  exit 1
fi
