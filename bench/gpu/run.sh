#!/usr/bin/env bash
# The one prepared GPU run (see docs/gpu.md).  On the GPU machine, from the repository root, with the
# folders made by `make gpu-prepare` carried along:
#     bash bench/gpu/run.sh                 # report into $OUT (or ./gpu-out)
#     bash bench/gpu/run.sh --dry-run       # here, on the CPU: the same stages, tiny and short
# Options: --out DIR, --wheels DIR (default .whl), --gl DIR (default .gl), --only STAGES;
# GPU_BUDGET_SCALE multiplies the stages' time budgets (about 9 minutes in all at 1).
# It unpacks the GL loader packages (into / on the GPU machine; into a temporary folder in a dry
# run), installs the wheels into a temporary site folder (no index, no network), puts the project
# on PYTHONPATH, then runs bench/gpu/report.py, which never stops at the first failure.
set -u
cd "$(dirname "$0")/../.."
dry=0; out="${OUT:-$PWD/gpu-out}"; whl=.whl; gl=.gl; only=""
PY=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --out) out=$2; shift ;;
    --wheels) whl=$2; shift ;;
    --gl) gl=$2; shift ;;
    --only) only=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
setup=""
if ls "$gl"/*.deb >/dev/null 2>&1; then
  if [ $dry = 1 ]; then root=$(mktemp -d); else root=/; fi
  for f in "$gl"/*.deb; do dpkg -x "$f" "$root" || setup="$setup dpkg -x $f failed;"; done
  [ $dry = 1 ] || ldconfig
  setup="$setup GL packages: $(ls "$gl"/*.deb | wc -l) unpacked into $root;"
else
  setup="$setup GL packages: none in $gl (run make gpu-prepare);"
fi
nv=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ $dry = 0 ] && [ -f "$nv" ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=$nv
  setup="$setup EGL vendor file $nv;"
fi
site=$(mktemp -d)/site
if ls "$whl"/*.whl >/dev/null 2>&1; then
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$whl"/*.whl; then
    setup="$setup wheels: $(cd "$whl" && ls *.whl | sed 's/-.*//' | tr '\n' ' ')installed into $site;"
  else
    setup="$setup wheels: pip install failed;"
  fi
else
  setup="$setup wheels: none in $whl (run make gpu-prepare);"
fi
export PYTHONPATH="$PWD:$PWD/vendor:$site${PYTHONPATH:+:$PYTHONPATH}"
export LIVEGAN_CACHE="${LIVEGAN_CACHE:-$(mktemp -d)}"
echo "setup:$setup"
command -v nvidia-smi >/dev/null && nvidia-smi
args=(--out "$out" --setup "$setup")
[ $dry = 1 ] && args+=(--dry-run)
[ -n "$only" ] && args+=(--only "$only")
exec "$PY" bench/gpu/report.py "${args[@]}"
