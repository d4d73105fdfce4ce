#!/usr/bin/env bash
# The anynet GPU check: the whole test suite on CuPy and on JAX-on-GPU, the parity
# tables with the GPU backends, the GPU benchmark (W2 and W3, and the convnet W4, on cupy
# and JAX-on-GPU against PyTorch CUDA eager, in the same rounds), and one summary to paste into
# backends/README.md and BENCHMARKS.md.
#
# For a machine with an NVIDIA GPU and no network, where numpy, cupy, jax with CUDA,
# torch and pytest are installed, and array-api-compat (plus array-api-strict and
# hypothesis, if wanted) come as wheel files in a folder:
#
#   backends/gpu-check.sh [--dry-run] [--steps tests,parity,bench] [WHEEL_DIR]
#
# --steps: which parts to run, in that order (default all three; on a short GPU lease
# run "bench" or "parity,bench" first, the tests take longest).
#
# WHEEL_DIR: the folder of carried wheels (default: $ANYNET_WHEELS, else .whl). They are
# installed offline with `pip install --no-index --no-deps --target` into a scratch folder
# that goes on PYTHONPATH; nothing else is installed or changed. PYTHON picks the
# interpreter (default python3).
#
# --dry-run: check what can be checked without a GPU (the wheels, the Python packages),
# print every command the check would run, run none of them, and say so.
#
# Exit status: 0 every step passed; 1 a step failed; 2 this machine cannot run the check
# (no NVIDIA GPU, no wheels, a package missing): said plainly, never reported as a pass.
#
# TF32 is turned off for the whole check (NVIDIA_TF32_OVERRIDE=0, and
# JAX_DEFAULT_MATMUL_PRECISION=highest, since JAX multiplies float32 matrices in TF32 on
# recent GPUs by default): the tests and the parity table measure anynet's arithmetic in
# float32, not the GPU's reduced-precision matmul mode.

set -uo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

DRY_RUN=0
WHEELS="${ANYNET_WHEELS:-.whl}"
WANT="tests,parity,bench"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --steps)
            shift
            WANT="${1:-}"
            for s in ${WANT//,/ }; do
                case "$s" in tests|parity|bench) ;; *) echo "gpu-check: unknown step '$s' (expected tests, parity, bench)" >&2; exit 2 ;; esac
            done
            ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "gpu-check: unknown option $1 (expected --dry-run, --steps, --help, or a wheel folder)" >&2; exit 2 ;;
        *) WHEELS="$1" ;;
    esac
    shift
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/anynet-gpu-check.XXXXXX")"
SITE="$WORK/site"
DATE="$(date -u +%Y-%m-%dT%H:%MZ)"
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "$COMMIT" != unknown ] && [ -n "$(git -C "$REPO" status --porcelain 2>/dev/null)" ]; then
    COMMIT="$COMMIT (with uncommitted changes)"
fi

# step name -> result line, in order
STEPS=()
RESULTS=()
FAILED=0
record() {  # record NAME STATUS DETAIL
    STEPS+=("$1")
    RESULTS+=("$2${3:+: $3}")
    if [ "$2" != PASS ]; then FAILED=1; fi
}

cannot_run() {  # the machine cannot run the check: say why, exit 2
    echo
    echo "gpu-check: CANNOT RUN: $*"
    echo "gpu-check: nothing was tested; this is not a pass."
    exit 2
}

run() {  # run LOG CMD...: show the command, run it unless --dry-run, keep its output in LOG
    local log="$1"
    shift
    echo "+ $*"
    if [ "$DRY_RUN" = 1 ]; then
        return 0
    fi
    "$@" >"$log" 2>&1
    local rc=$?
    tail -n 3 "$log" | sed 's/^/    /'
    return $rc
}

echo "anynet GPU check, $DATE, commit $COMMIT, repository $REPO"
[ "$DRY_RUN" = 1 ] && echo "DRY RUN: commands are printed, not run"

# ---------------------------------------------------------------- the GPU
GPU="none"
if command -v nvidia-smi >/dev/null 2>&1; then
    GPU="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4 | paste -sd ';' -)"
    if ! nvidia-smi -L >/dev/null 2>&1 || [ -z "$GPU" ]; then
        GPU_ERROR="nvidia-smi is installed but lists no GPU: $GPU"
        GPU="none"
    fi
else
    GPU_ERROR="nvidia-smi not found (no NVIDIA driver on this machine)"
fi
echo "GPU: $GPU"
if [ "$GPU" = none ]; then
    if [ "$DRY_RUN" = 1 ]; then
        echo "gpu-check: no NVIDIA GPU here (${GPU_ERROR}); a real run would stop at this point with status 2"
    else
        cannot_run "no NVIDIA GPU: ${GPU_ERROR}. Run this on a machine with an NVIDIA GPU and its driver."
    fi
fi

# ---------------------------------------------------------------- carried wheels
if [ ! -d "$WHEELS" ]; then
    cannot_run "the wheel folder '$WHEELS' does not exist (give it as the argument or in ANYNET_WHEELS)"
fi
shopt -s nullglob
WHEEL_FILES=("$WHEELS"/*.whl)
shopt -u nullglob
if [ ${#WHEEL_FILES[@]} -eq 0 ]; then
    cannot_run "no .whl files in '$WHEELS'"
fi
case " ${WHEEL_FILES[*]##*/} " in
    *" array_api_compat-"*) ;;
    *) cannot_run "no array_api_compat-*.whl in '$WHEELS' (found: ${WHEEL_FILES[*]##*/})" ;;
esac
echo "wheels from $WHEELS: ${WHEEL_FILES[*]##*/}"
run "$WORK/pip.log" "$PYTHON" -m pip install --no-index --no-deps --target "$SITE" "${WHEEL_FILES[@]}" \
    || cannot_run "pip could not install the wheels offline (see $WORK/pip.log)"
export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export NVIDIA_TF32_OVERRIDE=0
export JAX_DEFAULT_MATMUL_PRECISION=highest
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX, CuPy and torch share the GPU in one process
echo "environment: PYTHONPATH=$PYTHONPATH NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest XLA_PYTHON_CLIENT_PREALLOCATE=false"

# ---------------------------------------------------------------- what Python sees
# One line per package ("version name X"), one per backend ("name: ok <version> on <device>"
# or "name: cannot run: <why>").
PROBE='
import importlib
for mod in ("numpy", "array_api_compat", "pytest", "cupy", "jax", "torch", "array_api_strict"):
    try:
        version = getattr(importlib.import_module(mod), "__version__", "?")
        print("version", mod, version)
    except Exception as exc:
        print(f"version {mod} missing ({type(exc).__name__}: {exc})")
import anynet
from anynet.backends import get_backend
def check(label, name, device=None, want=None):
    try:
        be = get_backend(name, device)
        dev = str(be.device)
        if want is not None and not any(w in dev.lower() for w in want):
            print(f"{label}: cannot run: its default device is {dev}, not a GPU")
        else:
            print(f"{label}: ok {be.version} on {dev}")
    except Exception as exc:
        print(f"{label}: cannot run: {type(exc).__name__}: {exc}")
check("cupy", "cupy")
check("jax", "jax", want=("cuda", "gpu"))
check("torch:cuda", "torch", "cuda", want=("cuda",))
check("torch", "torch")
check("array_api_strict", "array_api_strict")
'
if [ "$DRY_RUN" = 1 ]; then
    echo "+ $PYTHON -c <probe: versions; anynet backends cupy, jax (must be on a GPU), torch:cuda>"
    PROBED="cupy: ok (dry run)
jax: ok (dry run)
torch:cuda: ok (dry run)
torch: ok (dry run)
array_api_strict: ok (dry run)"
else
    PROBED="$("$PYTHON" -c "$PROBE" 2>&1)" || cannot_run "Python could not import anynet and its backends:
$PROBED"
fi
echo "$PROBED" | sed 's/^/    /'
if ! echo "$PROBED" | grep -q '^version numpy [0-9]' && [ "$DRY_RUN" = 0 ]; then
    cannot_run "numpy is not installed for $PYTHON"
fi
if ! echo "$PROBED" | grep -q '^version pytest [0-9]' && [ "$DRY_RUN" = 0 ]; then
    cannot_run "pytest is not installed for $PYTHON"
fi
status_of() { echo "$PROBED" | sed -n "s/^$1: //p" | head -n 1; }

wants() { case ",$WANT," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- the test suite on the GPU
for backend in cupy jax; do
    wants tests || break
    st="$(status_of "$backend")"
    if [ "${st#ok}" = "$st" ]; then
        record "tests --backend $backend" FAIL "not run, $backend is not usable on the GPU: ${st#cannot run: }"
        continue
    fi
    log="$WORK/tests-$backend.log"
    if run "$log" "$PYTHON" -m pytest -q -p no:cacheprovider --backend "$backend"; then
        if [ "$DRY_RUN" = 1 ]; then
            record "tests --backend $backend" "NOT RUN" "dry run"
        else
            record "tests --backend $backend" PASS "$(tail -n 1 "$log") (${st#ok })"
        fi
    else
        record "tests --backend $backend" FAIL "$(tail -n 1 "$log") (log: $log)"
    fi
done

# ---------------------------------------------------------------- parity with the GPU backends
# The GPU backends are named, so one that cannot run fails the table instead of dropping out.
PARITY_BACKENDS="numpy,cupy,jax:gpu,torch:cuda"
for optional in torch array_api_strict; do
    st="$(status_of "$optional")"
    [ "${st#ok}" != "$st" ] && PARITY_BACKENDS="$PARITY_BACKENDS,$optional"
done
PARITY_LOG="$WORK/parity.log"
if ! wants parity; then
    :
elif run "$PARITY_LOG" "$PYTHON" -m anynet.parity --backends "$PARITY_BACKENDS"; then
    if [ "$DRY_RUN" = 1 ]; then
        record "parity ($PARITY_BACKENDS)" "NOT RUN" "dry run"
    else
        record "parity ($PARITY_BACKENDS)" PASS "$(tail -n 1 "$PARITY_LOG")"
    fi
else
    record "parity ($PARITY_BACKENDS)" FAIL "$(tail -n 1 "$PARITY_LOG")"
fi

# ---------------------------------------------------------------- the GPU benchmark
# W2 (mnist) and W3 (wide) on cupy, JAX-on-GPU and torch CUDA eager (plus the CPU rows the
# ratios are taken against), in the same rounds; float32 with TF32 off, as above.
bench_step() {  # bench_step NAME LOG SUMMARY ARGS...: one anynet.bench run; PASS with cupy and torch-cuda rows
    local name="$1" log="$2" summary="$3"
    shift 3
    if run "$log" "$PYTHON" -m anynet.bench "$@"; then
        if [ "$DRY_RUN" = 1 ]; then
            record "$name" "NOT RUN" "dry run"
        elif grep -q "anynet-cupy:gpu" "$log" && grep -q "torch-cuda" "$log"; then
            record "$name" PASS "$(grep -m1 "$summary" "$log")"
        else
            record "$name" FAIL "no cupy or torch-cuda row (log: $log)"
        fi
    else
        record "$name" FAIL "$(tail -n 1 "$log") (log: $log)"
    fi
}
if wants bench; then
    bench_step "bench (mnist, wide; cupy, jax, torch:cuda)" "$WORK/bench.log" '^against torch-cuda' \
        --workloads mnist,wide --backends numpy,cupy,jax,torch:cuda --repeats 5 --no-sklearn --no-memory
    # W4, the convnet of issue 11, against torch CUDA eager and a hand-written jax.jit step
    # (JAX on the GPU), after the CPU rows of its targets
    bench_step "bench w4 (convnet; cupy, jax, torch:cuda)" "$WORK/bench-w4.log" 'anynet-cupy:gpu / torch-cuda' \
        --workloads w4 --backends numpy,cupy,jax,torch:cuda --repeats 5
fi

# ---------------------------------------------------------------- summary
echo
echo "==================== anynet GPU check: summary ===================="
echo "date:    $DATE"
echo "commit:  $COMMIT"
echo "GPU:     $GPU"
echo "$PROBED" | sed -n 's/^version /package: /p'
for i in "${!STEPS[@]}"; do
    printf '%-60s %s\n' "${STEPS[$i]}" "${RESULTS[$i]}"
done
if [ "$DRY_RUN" = 1 ]; then
    echo
    echo "DRY RUN: nothing was tested; there is no result to record."
    rm -rf "$WORK"
    exit 0
fi
if [ -s "$PARITY_LOG" ]; then
    echo
    cat "$PARITY_LOG"
fi
if [ -s "$BENCH_LOG" ]; then
    echo
    cat "$BENCH_LOG"
fi
echo
if [ "$FAILED" = 0 ]; then
    echo "gpu-check: PASS (logs in $WORK)"
    exit 0
fi
echo "gpu-check: FAIL (logs in $WORK)"
exit 1
