#!/usr/bin/env bash
# The DCGAN collapse check (issue 11): trains the DCGAN with its defaults (GJR-GARCH filter, Lambert W, GASF images)
# on the long series of the shared data (S&P 500 2000-2020, the DAX 1991-1998), evaluates each, and writes
# benchmarks/results/dcgan-collapse.md from the reports' collapse diagnostics (fingen eval's "Collapse check").
# Usage: benchmarks/quality/dcgan-check.sh [OUT_DIR]   (20,000 DCGAN steps a series: the longest part)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/fingen-dcgan-check}"
mkdir -p "$out"
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo "+changes")
dotnet build "$root/src/FinGen.Cli" -c Release -v quiet -nologo > "$out/build.log"
fingen=(dotnet "$root/src/FinGen.Cli/bin/Release/net10.0/fingen.dll")
series=(
  "S&P 500|--data sp500"
  "DAX|--data $root/data/eu_stock_markets_daily_1991_1998.csv --date-column approx_date --column DAX"
)
rm -f "$out/runs.tsv.new"
for entry in "${series[@]}"; do
  name="${entry%%|*}"; read -r -a options <<< "${entry#*|}"
  run="$out/$(echo "$name" | tr -c 'A-Za-z0-9\n' '_')"
  rm -rf "$run"
  echo "dcgan-check: $name"
  "${fingen[@]}" train --model dcgan "${options[@]}" --out "$run/train" > "$run.train.log" 2>&1 || { tail -n 3 "$run.train.log"; exit 1; }
  "${fingen[@]}" eval --checkpoint "$run/train/checkpoint.safetensors" --out "$run/eval" > "$run.eval.log" 2>&1 || { tail -n 3 "$run.eval.log"; exit 1; }
  printf '%s\t%s\n' "$name" "$run/eval/report.json" >> "$out/runs.tsv.new"
done
mv "$out/runs.tsv.new" "$out/runs.tsv"
python3 "$root/benchmarks/quality/dcgan_check.py" "$out/runs.tsv" "$commit" > "$root/benchmarks/results/dcgan-collapse.md"
echo "dcgan-check: wrote benchmarks/results/dcgan-collapse.md"
