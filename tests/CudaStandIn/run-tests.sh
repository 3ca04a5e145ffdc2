#!/usr/bin/env bash
# Builds the CUDA stand-in (tests/CudaStandIn) and runs, against it, its own tests and every CUDA test of the suite
# (the tests whose names contain "Cuda"), so the unchanged CUDA backend and our unchanged kernels execute on a machine
# without a GPU, then the op tests again under a second thread-order seed. The last line is
# "stand-in: N passed, N failed" (the C++ tests and both dotnet runs together);
# exits non-zero when anything fails.
#
# The test project must be built (dotnet build/test -c Release) unless STANDIN_BUILD_TESTS=1. Environment:
# STANDIN_BUILD_DIR (default build/standin), STANDIN_FILTER (default FullyQualifiedName~Cuda), FINGEN_STANDIN_SEED (the
# seed of the thread-order shuffles).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${STANDIN_BUILD_DIR:-$ROOT/build/standin}"
FILTER="${STANDIN_FILTER:-FullyQualifiedName~Cuda}"
cd "$ROOT"
mkdir -p "$BUILD"
summary() { echo "stand-in: $1 passed, $2 failed"; }

if ! { cmake -S tests/CudaStandIn -B "$BUILD" -DCMAKE_BUILD_TYPE=Release ${STANDIN_CMAKE_ARGS:-} > "$BUILD.configure.log" 2>&1 \
       && cmake --build "$BUILD" --parallel "$(nproc 2>/dev/null || echo 2)" > "$BUILD.build.log" 2>&1; }; then
  cat "$BUILD.configure.log" "$BUILD.build.log" 2>/dev/null | tail -n 40
  echo "stand-in: the library did not build"
  summary 0 1
  exit 1
fi

# The stand-in's own tests: reference GEMM and convolution, launch checks, guard zones, capture refusals.
own=$(LD_LIBRARY_PATH="$BUILD/lib" FINGEN_STANDIN_QUIET=1 timeout 120 "$BUILD/standin_tests" 2>&1)
own_status=$?
echo "$own" | grep -v '^standin_tests:' || true
echo "$own" | tail -n 1
own_passed=$(echo "$own" | sed -n 's/^standin_tests: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
own_failed=$(echo "$own" | sed -n 's/^standin_tests: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
own_passed=${own_passed:-0}; own_failed=${own_failed:-1}
if [ "$own_status" -ne 0 ] && [ "$own_failed" -eq 0 ]; then own_failed=1; fi

export FINGEN_CUDA_PATH="$BUILD/lib"
# Without nvcc there is no fatbin to embed: the stand-in's own image stands for it (the kernels are in the library).
if [ ! -s build/kernels/fingen_kernels.fatbin ] && [ -z "${FINGEN_KERNELS:-}" ]; then
  export FINGEN_KERNELS="$BUILD/fingen_kernels.standin"
fi
# Kernel failures are reported through the CUDA errors (cuGetErrorString carries the detail); keep the log readable.
export FINGEN_STANDIN_QUIET=${FINGEN_STANDIN_QUIET:-1}
build_flag=--no-build
[ "${STANDIN_BUILD_TESTS:-0}" = "1" ] && build_flag=""
log="$BUILD.dotnet.log"
dotnet test -c Release $build_flag tests/FinGen.Native.Tests --filter "$FILTER" > "$log" 2>&1
dotnet_status=$?
grep -E '^\s+(Failed|Skipped) |Error Message|^\s+(Passed!|Failed!)' -A2 "$log" | head -n 200
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
skipped=$(grep -oE 'Skipped: +[0-9]+' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
if [ "$dotnet_status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; tail -n 40 "$log"; fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "stand-in: no CUDA test ran"; fi
echo "stand-in: dotnet: $passed passed, $failed failed, $skipped skipped (the skips are the checks of a machine without a device)"

# The op tests once more under another thread order: a kernel with a race or a missing barrier passes under one
# shuffle only by luck (about 15 s).
seed_log="$BUILD.dotnet-seed.log"
FINGEN_STANDIN_SEED=${STANDIN_SECOND_SEED:-20260} dotnet test -c Release --no-build tests/FinGen.Native.Tests \
  --filter "FullyQualifiedName~CudaParityTests|FullyQualifiedName~CudaConvParityTests.BatchNorm" > "$seed_log" 2>&1
seed_status=$?
seed_passed=$(grep -oE 'Passed: +[0-9]+' "$seed_log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
seed_failed=$(grep -oE 'Failed: +[0-9]+' "$seed_log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
if [ "$seed_status" -ne 0 ] && [ "$seed_failed" -eq 0 ]; then seed_failed=1; tail -n 40 "$seed_log"; fi
grep -E '^\s+Failed ' -A3 "$seed_log" | head -n 60
echo "stand-in: dotnet, second thread order: $seed_passed passed, $seed_failed failed"

total_passed=$((passed + own_passed + seed_passed)); total_failed=$((failed + own_failed + seed_failed))
summary "$total_passed" "$total_failed"
[ "$total_failed" -eq 0 ]
