#!/usr/bin/env bash
# Candidate configurations against the default, on the validation splits of validation-runs.sh (inside the training
# parts: the held-out periods of benchmarks/results/quality.md are never seen). Writes
# benchmarks/results/quality-candidates.md (candidates.py). A candidate becomes the default only when it meets more
# targets than the default over all series and wins more series than it loses.
# Usage: benchmarks/quality/candidates.sh [OUT_DIR] [SEEDS]   (default /tmp/fingen-candidates, seed 42)
#   FINGEN_CANDIDATES="tag|options;tag|options" replaces the candidates below; FINGEN_CANDIDATES_OUT names the results
#   file (default benchmarks/results/quality-candidates.md), so a comparison of other candidates keeps the earlier one.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/fingen-candidates}"
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo "+changes")
# tag | train options beyond the default
candidates=(
  "default|"
  "student-t noise|--noise student-t"
  "spectral norm|--spectral-norm"
)
[ -n "${FINGEN_CANDIDATES:-}" ] && IFS=';' read -r -a candidates <<< "$FINGEN_CANDIDATES"
"$root/benchmarks/quality/validation-runs.sh" "$out" "${2:-42}" "${candidates[@]}"
results="${FINGEN_CANDIDATES_OUT:-benchmarks/results/quality-candidates.md}"
python3 "$root/benchmarks/quality/candidates.py" "$out/runs.tsv" "$commit" > "$root/$results"
echo "candidates: wrote $results"
