#!/usr/bin/env bash
# The quality table: trains fingen's default configuration on every index series the project ships, with two
# training seeds, evaluates each on its held-out 20 %, and writes benchmarks/results/quality.md (table.py).
# Configurations are chosen on the training parts only (validation splits inside them), never on this table.
# Usage: benchmarks/quality/run.sh [OUT_DIR]   (default /tmp/fingen-quality; the last line says how long it took)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/fingen-quality}"
mkdir -p "$out"
commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo "+changes")
dotnet build "$root/src/FinGen.Cli" -c Release -v quiet -nologo > "$out/build.log"
fingen=(dotnet "$root/src/FinGen.Cli/bin/Release/net10.0/fingen.dll")
eu="$root/data/eu_stock_markets_daily_1991_1998.csv"
spi="$root/data/spi_sectors_daily_2000_2008.csv"
dow="$root/data/dowjones30_daily_close_1991_2000.csv"
# name | data options
series=(
  "S&P 500|--data sp500"
  "DAX|--data $eu --date-column approx_date --column DAX"
  "SMI|--data $eu --date-column approx_date --column SMI"
  "CAC|--data $eu --date-column approx_date --column CAC"
  "FTSE|--data $eu --date-column approx_date --column FTSE"
  "SPI|--data $spi --column SPI --na drop"
  "Dow: KO|--data $dow --column KO"
  "Dow: IBM|--data $dow --column IBM"
)
seeds=(42 43)
for entry in "${series[@]}"; do
  name="${entry%%|*}"; read -r -a options <<< "${entry#*|}"
  slug=$(echo "$name" | tr -c 'A-Za-z0-9\n' '_')
  for seed in "${seeds[@]}"; do
    run="$out/$slug-seed$seed"
    rm -rf "$run"
    echo "quality: $name, seed $seed"
    "${fingen[@]}" train "${options[@]}" --seed "$seed" --out "$run/train" > "$run.train.log" 2>&1 || { tail -n 3 "$run.train.log"; exit 1; }
    "${fingen[@]}" eval --checkpoint "$run/train/checkpoint.safetensors" --out "$run/eval" > "$run.eval.log" 2>&1 || { tail -n 3 "$run.eval.log"; exit 1; }
    printf '%s\t%s\t%s\n' "$name" "$seed" "$run/eval/report.json" >> "$out/runs.tsv.new"
  done
done
mv "$out/runs.tsv.new" "$out/runs.tsv"
python3 "$root/benchmarks/quality/table.py" "$out/runs.tsv" "$commit" > "$root/benchmarks/results/quality.md"
echo "quality: wrote benchmarks/results/quality.md in ${SECONDS} s on $(nproc) cores"
