#!/usr/bin/env bash
# The mutation check: does the CUDA test net catch kernel bugs? Builds the stand-in from copies of kernels/ with one
# deliberate bug each (tests/CudaStandIn/mutants/*.patch) and runs the CUDA op tests against each; every mutant must
# make them fail, and the real kernels must pass. Prints one line a mutant and "mutation check: N of N mutants
# caught"; exits non-zero otherwise.
#
# Each mutant recompiles only the kernels (one translation unit) and runs CudaParityTests plus the batch-norm tests
# (about 40 s each on two cores); the cuDNN sub-libraries are built too, because the batch-norm tests include a
# convolution's bias gradient (its channel sums are batchnorm.cu's). Needs the test project built (dotnet build -c Release).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${STANDIN_MUTANT_BUILD_DIR:-$ROOT/build/standin-mutant}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
FILTER="FullyQualifiedName~CudaParityTests|FullyQualifiedName~CudaConvParityTests.BatchNorm"

# Each mutant is a patch of kernels/ in tests/CudaStandIn/mutants/ (its first line says what it breaks), applied with
# git apply to a copy; one that no longer applies (the kernels changed) fails the check, so it is updated with them.
mutants=("$ROOT"/tests/CudaStandIn/mutants/*.patch)

run_suite() {  # kernels dir -> 0 when the tests pass
  local dir="$1"
  cmake -S tests/CudaStandIn -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DFINGEN_STANDIN_KERNELS_DIR=$dir" > "$WORK/configure.log" 2>&1 \
    && cmake --build "$BUILD" --target fingen_cuda_standin fingen_cudnn_ops fingen_cudnn_cnn --parallel "$(nproc 2>/dev/null || echo 2)" > "$WORK/build.log" 2>&1 || return 2
  local kernels_image=()
  [ -s build/kernels/fingen_kernels.fatbin ] || kernels_image=("FINGEN_KERNELS=$BUILD/fingen_kernels.standin")
  env FINGEN_CUDA_PATH="$BUILD/lib" FINGEN_STANDIN_QUIET=1 "${kernels_image[@]}" \
    timeout 600 dotnet test -c Release --no-build tests/FinGen.Native.Tests --filter "$FILTER" > "$WORK/test.log" 2>&1
}

caught=0
for patch in "${mutants[@]}"; do
  name=$(head -n 1 "$patch" | sed 's/^Mutant: //')
  rm -rf "$WORK/kernels" && cp -r kernels "$WORK/kernels"
  if ! (cd "$WORK/kernels" && git apply -p2 "$patch" 2> "$WORK/apply.log"); then
    echo "mutant NOT APPLIED (the kernels changed? update $(basename "$patch")): $name"; cat "$WORK/apply.log"
    continue
  fi
  run_suite "$WORK/kernels"
  status=$?
  if [ "$status" -eq 2 ]; then
    echo "mutant did not build: $name"; tail -n 20 "$WORK/build.log"
  elif [ "$status" -ne 0 ]; then
    failed=$(grep -oE 'Failed: +[0-9]+' "$WORK/test.log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
    echo "mutant caught ($failed tests failed): $name"
    caught=$((caught + 1))
  else
    echo "mutant SURVIVED (the CUDA tests passed): $name"
  fi
done

run_suite "$ROOT/kernels"
real=$?
if [ "$real" -eq 0 ]; then echo "real kernels: the same tests pass"; else echo "real kernels: the tests FAIL (status $real)"; tail -n 30 "$WORK/test.log"; fi
echo "mutation check: $caught of ${#mutants[@]} mutants caught"
[ "$caught" -eq "${#mutants[@]}" ] && [ "$real" -eq 0 ]
