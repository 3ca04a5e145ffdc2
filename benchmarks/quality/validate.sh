#!/usr/bin/env bash
# Conditional generation against the default on the validation splits of validation-runs.sh (inside the training
# parts), two seeds, every run's numbers side by side: writes benchmarks/results/validation-condition.md
# (validate_table.py). Runs already made in OUT_DIR are kept.
# Usage: benchmarks/quality/validate.sh [OUT_DIR] ["TAG|OPTIONS" ...]
#   default: "default|" (fingen train with no options) and "conditional|--condition realized-vol"
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/fingen-validation}"; shift || true
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=("default|" "conditional|--condition realized-vol")
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo "+changes")
FINGEN_KEEP_RUNS=1 "$root/benchmarks/quality/validation-runs.sh" "$out" "42 43" "${configs[@]}"
python3 "$root/benchmarks/quality/validate_table.py" "$out/runs.tsv" "$commit" > "$root/benchmarks/results/validation-condition.md"
echo "validation: wrote benchmarks/results/validation-condition.md"
