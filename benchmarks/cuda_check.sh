#!/usr/bin/env bash
# The one command for a CUDA machine, run from the repository root with $OUT set:
#
#   OUT=/some/folder bash benchmarks/cuda_check.sh [--quick]
#
# 1. nvidia-smi, python and torch versions;
# 2. pyzmq / orjson (imported by `import evrt`) from the wheels in $DEVWHEELS (default
#    .devwheels/) into /tmp/evrt_site when the python lacks them; evrt itself from the
#    checkout (evrt/sources and evrt/sinks are linked to sources/ and sinks/ when evrt is not
#    installed, as setup.py maps them);
# 3. the CUDA tests (tests/test_devices.py, the crossbar's CUDA test);
# 4. benchmarks/cuda_check.py --out $OUT (JSON + markdown; every section catches its errors);
# 5. the model test files on the CPU (-x -q);
# 6. a summary: the markdown table and each step's status.
# No step stops the others; each has its own time limit (150 + 270 + 150 s, so the run
# ends inside 10 minutes even if every step hits its limit). Everything printed also goes
# to $OUT/cuda_check.log. PY (default python3) picks the interpreter.

set -u
PY=${PY:-python3}
OUT=${OUT:-reports/cuda_check}
WHEELS=${DEVWHEELS:-.devwheels}
mkdir -p "$OUT"
exec > >(tee "$OUT/cuda_check.log") 2>&1
START=$(date +%s)
STATUS=()
step() { echo; echo "=== [$(( $(date +%s) - START )) s] $*"; }
record() { STATUS+=("$1: rc=$2 after $(( $(date +%s) - START )) s"); }

step "nvidia-smi"
nvidia-smi || echo "(nvidia-smi failed or is absent)"

step "python and torch"
$PY -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
record "python/torch" $?

step "wheels for what the python lacks"
MISSING=$($PY -c "import importlib.util as u; print(' '.join(m for m in ('zmq', 'orjson') if u.find_spec(m) is None))")
echo "missing: ${MISSING:-none}"
if [ -n "$MISSING" ]; then
    if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/evrt_site "$WHEELS"/*.whl
        record "wheels" $?
        export PYTHONPATH=/tmp/evrt_site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "no wheels in $WHEELS: carry that folder"
        record "wheels" 1
    fi
fi

step "evrt from this checkout"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/evrt_numba_cache}
if ! $PY -c "import evrt.sources, evrt.sinks" >/dev/null 2>&1; then
    echo "linking evrt/sources -> sources, evrt/sinks -> sinks (the mapping setup.py installs)"
    [ -e evrt/sources ] || ln -s ../sources evrt/sources
    [ -e evrt/sinks ] || ln -s ../sinks evrt/sinks
fi
$PY -c "import evrt, evrt.sources, evrt.sinks, zmq, orjson, numba, torch; print('imports ok: evrt from', evrt.__file__, '| numba', numba.__version__)"
record "imports" $?

step "CUDA tests"
timeout 150 $PY -m pytest -x -q -p no:cacheprovider tests/test_devices.py \
    "tests/test_crossbar.py::test_cuda_matches_digital" -rs
record "pytest CUDA tests" $?

step "benchmarks/cuda_check.py"
PYTHONUNBUFFERED=1 timeout 270 $PY benchmarks/cuda_check.py --out "$OUT" "$@"
record "cuda_check.py" $?

step "model tests (CPU)"
timeout 150 $PY -m pytest -x -q -p no:cacheprovider tests/test_depth_model.py \
    tests/test_depth_node.py tests/test_depth_train.py tests/test_depth_weights.py \
    tests/test_prime_layers.py tests/test_prime_shipped.py tests/test_twin_hp.py \
    tests/test_twin_lorenz.py tests/test_twin_node_ode.py tests/test_twin_trained.py \
    tests/test_crossbar.py tests/test_early_stop.py
record "pytest model tests" $?

step "summary"
[ -f "$OUT/cuda_check.md" ] && cat "$OUT/cuda_check.md"
printf '%s\n' "${STATUS[@]}"
echo "total $(( $(date +%s) - START )) s"
