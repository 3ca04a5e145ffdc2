#!/usr/bin/env bash
# The mutation check: does the CUDA test net catch kernel bugs? Builds the stand-in from copies of kernels/ with one
# deliberate bug each and runs the CUDA op tests against each; every mutant must make them fail, and the real kernels
# must pass. Prints one line a mutant and "mutation check: N of N mutants caught"; exits non-zero otherwise.
#
# Each mutant recompiles only the kernels (one translation unit) and runs CudaParityTests plus the batch-norm tests
# (about 20 s each on two cores). Needs the test project built (dotnet build -c Release).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${STANDIN_MUTANT_BUILD_DIR:-$ROOT/build/standin-mutant}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
FILTER="FullyQualifiedName~CudaParityTests|FullyQualifiedName~CudaConvParityTests.BatchNorm"

# name | file | python expression turning the source text `s` into the mutant (must change it)
mutants=(
  "off-by-one: fg_fill writes one element past n|elementwise.cu|s.replace('extern \"C\" __global__ void fg_fill(float* y, float value, int n)\n{\n    for (long long i = fg_global_index(); i < n;', 'extern \"C\" __global__ void fg_fill(float* y, float value, int n)\n{\n    for (long long i = fg_global_index(); i <= n;', 1)"
  "missing barrier: the loss reduction tree without its __syncthreads|losses.cu|s.replace('if (j < s) sums[j] += sums[j + s];\n        __syncthreads();', 'if (j < s) sums[j] += sums[j + s];', 1)"
  "missing barrier: fg_block_sum returns without the barrier that frees its scratch|batchnorm.cu|s.replace('const double total = sums[0];\n    __syncthreads();', 'const double total = sums[0];', 1)"
  "swapped parameters: fg_reparameterize_forward takes logvar before mu|reparameterize.cu|s.replace('fg_reparameterize_forward(const float* mu, const float* logvar,', 'fg_reparameterize_forward(const float* logvar, const float* mu,', 1)"
  "off-by-one: fg_bias_add_rows adds the next column's bias|elementwise.cu|s.replace('y[i] += bias[fg_index32(i) % (unsigned)cols];', 'y[i] += bias[(fg_index32(i) + 1) % (unsigned)cols];', 1)"
)

run_suite() {  # kernels dir -> 0 when the tests pass
  local dir="$1"
  cmake -S tests/CudaStandIn -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DFINGEN_STANDIN_KERNELS_DIR=$dir" > "$WORK/configure.log" 2>&1 \
    && cmake --build "$BUILD" --target fingen_cuda_standin --parallel "$(nproc 2>/dev/null || echo 2)" > "$WORK/build.log" 2>&1 || return 2
  local kernels_image=()
  [ -s build/kernels/fingen_kernels.fatbin ] || kernels_image=("FINGEN_KERNELS=$BUILD/fingen_kernels.standin")
  env FINGEN_CUDA_PATH="$BUILD/lib" FINGEN_STANDIN_QUIET=1 "${kernels_image[@]}" \
    timeout 600 dotnet test -c Release --no-build tests/FinGen.Native.Tests --filter "$FILTER" > "$WORK/test.log" 2>&1
}

caught=0
for entry in "${mutants[@]}"; do
  IFS='|' read -r name file edit <<< "$entry"
  rm -rf "$WORK/kernels" && cp -r kernels "$WORK/kernels"
  if ! python3 -c "import sys; p=sys.argv[1]; s=open(p).read(); t=$edit; sys.exit(1) if t == s else open(p,'w').write(t)" "$WORK/kernels/$file"; then
    echo "mutant NOT APPLIED (the source changed?): $name"
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
