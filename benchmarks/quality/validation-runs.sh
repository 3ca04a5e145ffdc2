#!/usr/bin/env bash
# The validation runs behind every choice of configuration, on the training parts only: the S&P 500, DAX and SPI files
# are cut to their first 80 % of rows (what the quality table trains on), and `fingen eval` then holds out the last
# 20 % of that cut, so the held-out periods of benchmarks/results/quality.md are never seen. Each configuration is
# trained with each seed and evaluated; a run whose report exists is kept when FINGEN_KEEP_RUNS=1. Writes OUT/runs.tsv
# (series, tag, seed, options, report), which candidates.py and validate_table.py read.
# Usage: benchmarks/quality/validation-runs.sh OUT_DIR "SEEDS" "TAG|OPTIONS" ...   (called by candidates.sh, validate.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$1"; read -r -a seeds <<< "$2"; shift 2
configs=("$@")
mkdir -p "$out/data"
dotnet build "$root/src/FinGen.Cli" -c Release -v quiet -nologo > "$out/build.log"
fingen=(nice dotnet "$root/src/FinGen.Cli/bin/Release/net10.0/fingen.dll")
# The header and the first floor(0.8 n) of the n rows.
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
: > "$out/runs.tsv.new"
for entry in "${series[@]}"; do
  name="${entry%%|*}"; read -r -a data <<< "${entry#*|}"
  for config in "${configs[@]}"; do
    tag="${config%%|*}"; read -r -a options <<< "${config#*|}"
    for seed in "${seeds[@]}"; do
      run="$out/$(echo "$name-$tag-$seed" | tr -c 'A-Za-z0-9\n' '_')"
      if [ "${FINGEN_KEEP_RUNS:-0}" != 1 ] || [ ! -f "$run/eval/report.json" ]; then
        rm -rf "$run"
        echo "validation: $name, $tag, seed $seed"
        "${fingen[@]}" train "${data[@]}" ${options[@]+"${options[@]}"} --seed "$seed" --out "$run/train" > "$run.train.log" 2>&1 || { tail -n 3 "$run.train.log"; exit 1; }
        "${fingen[@]}" eval --checkpoint "$run/train/checkpoint.safetensors" --out "$run/eval" > "$run.eval.log" 2>&1 || { tail -n 3 "$run.eval.log"; exit 1; }
      fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$tag" "$seed" "${config#*|}" "$run/eval/report.json" >> "$out/runs.tsv.new"
    done
  done
done
mv "$out/runs.tsv.new" "$out/runs.tsv"
