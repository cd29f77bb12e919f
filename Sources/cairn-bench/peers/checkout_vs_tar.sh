#!/usr/bin/env bash
# Checkout against `tar x` of the same files, interleaved on a quiet disk: before every timed
# step, dirty pages are written back (sync) and the disk gets a moment, so neither side pays
# for the other's writeback. Usage: checkout_vs_tar.sh DATASET_DIR [REPS]   (needs a release build)
set -euo pipefail
data=$(cd "$1" && pwd); reps=${2:-3}
cairn=${CAIRN:-$(pwd)/.build/release/cairn}
work=$(mktemp -d /tmp/cairn-checkout-XXXXXX); trap 'rm -rf "$work"' EXIT
tar cf "$work/data.tar" -C "$(dirname "$data")" "$(basename "$data")"
"$cairn" init "$work/repo" >/dev/null
"$cairn" -C "$work/repo" import --labels-from-dirs "$data" >/dev/null
"$cairn" -C "$work/repo" snapshot -m bench >/dev/null
files=$(find "$data" -type f | wc -l)
quiet() { sync; sleep 3; }
timeit() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
for rep in $(seq "$reps"); do
  quiet; mkdir "$work/t$rep"; tar_s=$(timeit tar xf "$work/data.tar" -C "$work/t$rep")
  quiet; cairn_s=$(timeit "$cairn" -C "$work/repo" checkout HEAD "$work/c$rep")
  echo "bench=checkout_vs_tar rep=$rep files=$files tar_x_s=$tar_s cairn_checkout_s=$cairn_s ratio_tar_over_cairn=$(echo "scale=2; $tar_s / $cairn_s" | bc)"
  rm -rf "$work/t$rep" "$work/c$rep"
done
