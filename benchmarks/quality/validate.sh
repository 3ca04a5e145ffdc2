#!/usr/bin/env bash
# Validation comparison of candidate configurations, on the training parts only: the first 80 % of the rows of the
# S&P 500, DAX and SPI files are cut to CSVs, and `fingen eval` then holds out the last 20 % of those, so the held-out
# part of the quality table (the files' last 20 %) is never seen. Each configuration is trained with the same steps
# and two seeds, evaluated, and benchmarks/results/validation-condition.md written (validate_table.py).
# Usage: benchmarks/quality/validate.sh [OUT_DIR] [NAME=OPTIONS ...]
#   default: default= (fingen train with no options) and conditional=--condition realized-vol
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/fingen-validation}"; shift || true
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=("default=" "conditional=--condition realized-vol")
mkdir -p "$out/data"
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo "+changes")
dotnet build "$root/src/FinGen.Cli" -c Release -v quiet -nologo > "$out/build.log"
fingen=(nice dotnet "$root/src/FinGen.Cli/bin/Release/net10.0/fingen.dll")
cut80() { python3 - "$1" "$2" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
rows = lines[1:]
open(sys.argv[2], "w").write("\n".join([lines[0]] + rows[:int(len(rows) * 0.8)]) + "\n")
PY
}
cut80 "$root/data/sp500_ohlcv_daily_2000_2020.csv" "$out/data/sp500.csv"
cut80 "$root/data/eu_stock_markets_daily_1991_1998.csv" "$out/data/eu.csv"
cut80 "$root/data/spi_sectors_daily_2000_2008.csv" "$out/data/spi.csv"
series=(
  "S&P 500|--data $out/data/sp500.csv"
  "DAX|--data $out/data/eu.csv --date-column approx_date --column DAX"
  "SPI|--data $out/data/spi.csv --column SPI --na drop"
)
: > "$out/runs.tsv.new"
for entry in "${series[@]}"; do
  name="${entry%%|*}"; read -r -a options <<< "${entry#*|}"
  slug=$(echo "$name" | tr -c 'A-Za-z0-9\n' '_')
  for config in "${configs[@]}"; do
    cname="${config%%=*}"; read -r -a extra <<< "${config#*=}"
    for seed in 42 43; do
      run="$out/$slug-$cname-seed$seed"
      if [ ! -f "$run/eval/report.json" ]; then
        rm -rf "$run"; mkdir -p "$run"
        echo "validation: $name, $cname, seed $seed"
        "${fingen[@]}" train "${options[@]}" ${extra[@]+"${extra[@]}"} --seed "$seed" --out "$run/train" > "$run.train.log" 2>&1 || { tail -n 3 "$run.train.log"; exit 1; }
        "${fingen[@]}" eval --checkpoint "$run/train/checkpoint.safetensors" --out "$run/eval" > "$run.eval.log" 2>&1 || { tail -n 3 "$run.eval.log"; exit 1; }
      fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$cname" "${config#*=}" "$seed" "$run/eval/report.json" >> "$out/runs.tsv.new"
    done
  done
done
mv "$out/runs.tsv.new" "$out/runs.tsv"
python3 "$root/benchmarks/quality/validate_table.py" "$out/runs.tsv" "$commit" > "$root/benchmarks/results/validation-condition.md"
echo "validation: wrote benchmarks/results/validation-condition.md"
