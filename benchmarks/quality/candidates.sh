#!/usr/bin/env bash
# Candidate configurations against the default, on validation splits INSIDE the training parts: each series is cut
# to its first 80 % of rows (what the quality table trains on), and `fingen eval` then holds out the last 20 % of that
# cut, so the held-out periods of benchmarks/results/quality.md are never seen. Writes
# benchmarks/results/quality-candidates.md (candidates.py). A candidate becomes the default only when it meets more
# targets than the default over all series and wins more series than it loses.
# Usage: benchmarks/quality/candidates.sh [OUT_DIR] [SEEDS]   (default /tmp/fingen-candidates, seed 42)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/fingen-candidates}"
read -r -a seeds <<< "${2:-42}"
mkdir -p "$out/data"
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo "+changes")
dotnet build "$root/src/FinGen.Cli" -c Release -v quiet -nologo > "$out/build.log"
fingen=(dotnet "$root/src/FinGen.Cli/bin/Release/net10.0/fingen.dll")
cut80() { local n; n=$(($(wc -l < "$1") - 1)); head -n $((n * 8 / 10 + 1)) "$1" > "$2"; }
cut80 "$root/data/sp500_ohlcv_daily_2000_2020.csv" "$out/data/sp500.csv"
cut80 "$root/data/eu_stock_markets_daily_1991_1998.csv" "$out/data/eu.csv"
cut80 "$root/data/spi_sectors_daily_2000_2008.csv" "$out/data/spi.csv"
# name | data options
series=(
  "S&P 500 (validation)|--data $out/data/sp500.csv"
  "DAX (validation)|--data $out/data/eu.csv --date-column approx_date --column DAX"
  "SPI (validation)|--data $out/data/spi.csv --column SPI --na drop"
)
# tag | train options beyond the default
candidates=(
  "default|"
  "student-t noise|--noise student-t"
  "spectral norm|--spectral-norm"
)
[ -n "${FINGEN_CANDIDATES:-}" ] && IFS=';' read -r -a candidates <<< "$FINGEN_CANDIDATES"
rm -f "$out/runs.tsv.new"
for entry in "${series[@]}"; do
  name="${entry%%|*}"; read -r -a data <<< "${entry#*|}"
  for candidate in "${candidates[@]}"; do
    tag="${candidate%%|*}"; read -r -a options <<< "${candidate#*|}"
    for seed in "${seeds[@]}"; do
      run="$out/$(echo "$name-$tag-$seed" | tr -c 'A-Za-z0-9\n' '_')"
      rm -rf "$run"
      echo "candidates: $name, $tag, seed $seed"
      "${fingen[@]}" train "${data[@]}" "${options[@]}" --seed "$seed" --out "$run/train" > "$run.train.log" 2>&1 || { tail -n 3 "$run.train.log"; exit 1; }
      "${fingen[@]}" eval --checkpoint "$run/train/checkpoint.safetensors" --out "$run/eval" > "$run.eval.log" 2>&1 || { tail -n 3 "$run.eval.log"; exit 1; }
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$tag" "$seed" "${candidate#*|}" "$run/eval/report.json" >> "$out/runs.tsv.new"
    done
  done
done
mv "$out/runs.tsv.new" "$out/runs.tsv"
python3 "$root/benchmarks/quality/candidates.py" "$out/runs.tsv" "$commit" > "$root/benchmarks/results/quality-candidates.md"
echo "candidates: wrote benchmarks/results/quality-candidates.md"
