#!/bin/sh
# Fuzzes one target (used by `make fuzz`, which runs several at once): run-one.sh TARGET SCRATCH RUNS SECONDS SEED
# Starts from the target's seed corpus and saved crashes; writes SCRATCH/fuzz-TARGET.log and
# SCRATCH/fuzz-TARGET.result (passed or failed). RUNS empty: fuzz for SECONDS instead.
t=$1; scratch=$2; runs=$3; seconds=$4; seed=$5
work=$(mktemp -d)
cp -r "Tests/Fuzz/corpus/$t/." "$work/"
[ -d "Tests/Fuzz/regressions/$t" ] && cp -r "Tests/Fuzz/regressions/$t/." "$work/"
if [ -n "$runs" ]; then budget=-runs=$runs; echo "fuzzing $t for $runs inputs"; else budget=-max_total_time=$seconds; echo "fuzzing $t for $seconds s"; fi
options=$(cat "Tests/Fuzz/options/$t" 2>/dev/null)
case "$options" in *-detect_leaks=0*) asan=detect_leaks=0;; *) asan=;; esac
# shellcheck disable=SC2086 # options and budget are lists of flags
if ASAN_OPTIONS=$asan CAIRN_FUZZ_TARGET=$t "$scratch/debug/cairn-fuzz" $budget -seed="$seed" -print_final_stats=1 $options \
    -artifact_prefix="$scratch/crash-$t-" "$work" > "$scratch/fuzz-$t.log" 2>&1; then
  echo passed > "$scratch/fuzz-$t.result"
else
  echo failed > "$scratch/fuzz-$t.result"
fi
rm -rf "$work"
