#!/usr/bin/env bash
# The whole GPU verification in one call, for a session that is lent a GPU machine (which has nvcc, CUDA,
# cuBLAS and PyTorch, but no .NET and no network).
#
#   scripts/gpu-check.sh prepare   on this machine: publishes the CLI and the GPU parity tests as one
#                                  self-contained linux-x64 folder (InvariantGlobalization), packed into
#                                  artifacts/gpu-check.tar.gz with the commit it was built from.
#   scripts/gpu-check.sh run       on the GPU machine, from the repository root (carry artifacts/gpu-check.tar.gz):
#                                  rebuilds the kernel fatbin with the local nvcc for the local GPU, runs every
#                                  CUDA parity test, `fingen bench` (and its per-op --profile table) and the
#                                  PyTorch baseline on the same card,
#                                  checks fingen's losses against its PyTorch twins (benchmarks/pytorch/parity.py),
#                                  and prints a short table last. Results go to $OUT (the device tool's folder)
#                                  or benchmarks/results/, named after the card.
#
# Typical device call: scripts/gpu-check.sh run   with carry ["artifacts/gpu-check.tar.gz"], timeout 480.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ARCHIVE="artifacts/gpu-check.tar.gz"
log() { echo "gpu-check: $*"; }

prepare() {
  set -e
  local stage="artifacts/gpu-check"
  rm -rf "$stage" "$ARCHIVE"
  mkdir -p "$stage/bin"
  local common=(-c Release -r linux-x64 --self-contained true -p:InvariantGlobalization=true -p:DebugType=none -p:GenerateDocumentationFile=false --nologo -v quiet)
  # Both apps in one folder share one copy of the runtime, which keeps the archive under the carry limit.
  dotnet publish src/FinGen.Cli "${common[@]}" -o "$stage/bin"
  dotnet publish tests/FinGen.Native.GpuCheck "${common[@]}" -o "$stage/bin"
  git rev-parse HEAD > "$stage/COMMIT"
  if ! git diff --quiet HEAD -- src tests kernels; then echo "dirty" >> "$stage/COMMIT"; fi
  tar -C artifacts -czf "$ARCHIVE" gpu-check
  log "wrote $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)) from $(head -n1 "$stage/COMMIT")"
}

run() {
  local out="${OUT:-$ROOT/benchmarks/results}"
  local work="${TMPDIR:-/tmp}/fingen-gpu-check"
  mkdir -p "$out"
  rm -rf "$work" && mkdir -p "$work"
  [ -f "$ARCHIVE" ] || { log "error: $ARCHIVE is missing: run 'scripts/gpu-check.sh prepare' here and carry it"; exit 1; }
  tar -C "$work" -xzf "$ARCHIVE"
  local bin="$work/gpu-check/bin" commit
  commit="$(head -n1 "$work/gpu-check/COMMIT")"
  local card driver
  card="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)"
  driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1)"
  local slug
  slug="$(echo "${card:-unknown-gpu}" | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')"
  log "card: ${card:-none} (driver ${driver:-?}), commit $commit"
  local status=()

  # 1. The fatbin, rebuilt by this machine's nvcc for this GPU (sm_90 on H100/H200; PTX as fallback).
  local cc
  cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '.')"
  if BUILD_DIR="$work/build" FINGEN_CUDA_ARCHITECTURES="${FINGEN_CUDA_ARCHITECTURES:-${cc:-90}-real;${cc:-90}-virtual}" \
      bash scripts/build-kernels.sh > "$out/gpu-check-kernels.log" 2>&1; then
    export FINGEN_KERNELS="$work/build/kernels/fingen_kernels.fatbin"
    status+=("kernels: built for sm_${cc:-90} ($(stat -c %s "$FINGEN_KERNELS") bytes)")
    # NVTX's C API from this toolkit's headers, next to the apps (the resolver looks there first).
    cp "$work/build/kernels/libfingen_nvtx.so" "$bin/" 2>/dev/null || true
    cp "$work/build/kernels/ptxas-report.txt" "$out/ptxas-report-$slug.txt" 2>/dev/null || true
  else
    status+=("kernels: local build FAILED (see gpu-check-kernels.log); using the embedded fatbin")
    tail -n 20 "$out/gpu-check-kernels.log"
  fi

  "$bin/fingen" info | tee "$out/gpu-check-info.txt"

  # 2. Parity: every CUDA test against the CPU reference.
  "$bin/FinGen.Native.GpuCheck" --no-progress > "$out/gpu-check-parity.log" 2>&1
  local parity=$?
  grep -E "failed|total:|succeeded:|skipped:" "$out/gpu-check-parity.log" | tail -n 6
  status+=("parity tests: exit $parity ($(grep -E '^\s+(succeeded|failed|skipped):' "$out/gpu-check-parity.log" | tr -s ' ' | tr '\n' ' '))")

  # 3. Timings on the same card: FinGen (synchronized steps) and PyTorch (eager and CUDA graph).
  local csv="$out/gpu-bench-$slug.csv"
  echo "engine,model,batch,backend,median_ms,p10_ms,p90_ms,steps_per_s,samples_per_s" > "$csv"
  for spec in "gan 64,256,1024" "vae 64,256" "dcgan 64,256" "conv-vae 64,256"; do
    set -- $spec
    "$bin/fingen" bench --device cuda --model "$1" --batch "$2" --steps 200 --csv 2>>"$out/gpu-check-bench.log" | tail -n +2 >> "$csv" \
      || status+=("fingen bench $1: FAILED (see gpu-check-bench.log)")
    python3 benchmarks/pytorch/bench.py --model "$1" --batch "$2" --steps 200 >> "$csv" 2>>"$out/gpu-check-bench.log" \
      || status+=("pytorch bench $1: FAILED (see gpu-check-bench.log)")
  done

  # 3b. Where a step's time goes: the per-op table (CUDA events around each op, no synchronization per op; NVTX
  #     ranges too when libnvToolsExt loads). A few seconds each: short warm-up, 50 profiled steps.
  local profile="$out/gpu-profile-$slug.txt"
  : > "$profile"
  for spec in "gan 256" "dcgan 64"; do
    set -- $spec
    "$bin/fingen" bench --device cuda --model "$1" --batch "$2" --warmup 50 --steps 50 --profile >> "$profile" 2>>"$out/gpu-check-bench.log" \
      || status+=("fingen bench --profile $1: FAILED (see gpu-check-bench.log)")
  done

  # 4. The same losses as PyTorch: fingen's step after a checkpoint against the twin's from that checkpoint,
  #    with the same batch and noise (Philox in Python, self-tested first against the C# values).
  local torch_parity=1 verdict
  if python3 benchmarks/pytorch/test_philox.py > "$out/gpu-check-torch-parity.log" 2>&1; then
    python3 benchmarks/pytorch/parity.py --fingen "$bin/fingen" --work "$work/parity" >> "$out/gpu-check-torch-parity.log" 2>&1
    torch_parity=$?
  fi
  verdict="$(grep -E '^(parity|test_philox):' "$out/gpu-check-torch-parity.log" | tail -n 1)"
  status+=("pytorch parity: exit $torch_parity (${verdict:-no verdict; see gpu-check-torch-parity.log})")
  tail -n 30 "$out/gpu-check-torch-parity.log"

  # 5. The short table, last.
  local report="$out/gpu-$slug.md"
  {
    echo "# GPU check: ${card:-unknown GPU}"
    echo
    echo "Driver ${driver:-?}; commit $commit; $(date -u +%Y-%m-%dT%H:%MZ); nvcc $(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')."
    echo
    for s in "${status[@]}"; do echo "- $s"; done
    echo
    echo "Median ms per training step (one D + one G step for the GAN), timed steps after warm-up; ratio = PyTorch / FinGen (above 1: FinGen faster)."
    echo
    echo "| model | batch | FinGen ms | PyTorch eager ms | ratio | PyTorch graph ms | ratio |"
    echo "|---|---|---|---|---|---|---|"
    awk -F, 'NR > 1 { key = $2 "," $3; ms[$1 "," key] = $5; keys[key] = 1 }
      END { for (k in keys) { split(k, p, ","); f = ms["fingen," k]; e = ms["pytorch-eager," k]; g = ms["pytorch-graph," k];
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], f, e, (f && e ? sprintf("%.2f", e / f) : "-"), g, (f && g ? sprintf("%.2f", g / f) : "-") } }' "$csv" | sort -t'|' -k2,2 -k3,3n
    echo
    echo "Step-2 metrics, fingen (cuda) against PyTorch (fp32, TF32 off) from the same checkpoint, batch and noise:"
    echo
    echo '```'
    grep -E '^(model|gan|vae|dcgan|conv-vae|parity:) ' "$out/gpu-check-torch-parity.log"
    echo '```'
    echo
    echo "Per-op profile (fingen bench --profile --device cuda):"
    echo
    echo '```'
    cat "$profile"
    echo '```'
  } > "$report"
  cat "$report"
  [ "$parity" -eq 0 ] && [ "$torch_parity" -eq 0 ]
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
