#!/usr/bin/env bash
# Runs libFuzzer targets one after another (the Makefile's `fuzz` and
# `fuzz-smoke` call this).
#
#   fuzz/run.sh DIR MODE SECONDS TARGET...
#
#   DIR      where the binaries are (DIR/bin/<target>) and where the run writes
#   MODE     campaign: keeps growing DIR/corpus/<target> (seeded from
#                      fuzz/corpus/<target>, which is only read)
#            smoke:    starts from the seeds alone (a fresh DIR/smoke/<target>)
#   SECONDS  per target
#
# Crashes go to DIR/artifacts/<target>/, logs to DIR/logs/<target>.log. Prints
# one line per target (executions, cov, ft, corpus) and exits non-zero when any
# target found a crash, a leak, a timeout or a failed property.
set -uo pipefail
dir=$1 mode=$2 secs=$3
shift 3
nice_level=${FUZZ_NICE:-10}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "$@"; do
    bin=$dir/bin/$t
    art=$dir/artifacts/$t
    log=$dir/logs/$t.log
    if [ "$mode" = smoke ]; then
        work=$dir/smoke/$t
        rm -rf "$work"
    else
        work=$dir/corpus/$t
    fi
    mkdir -p "$work" "$art" "$dir/logs"
    opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/")
    case $t in
        verify_headers|journal) opts+=(-max_len=12000) ;;
        *) opts+=(-max_len=4096) ;;
    esac
    [ -f "fuzz/$t.dict" ] && opts+=(-dict="fuzz/$t.dict")
    start=$(date +%s)
    nice -n "$nice_level" "$bin" "${opts[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$done_line")
    if [ $rc -eq 0 ]; then
        printf 'fuzz %-15s ok    %5ss  execs %-10s cov %-5s ft %-6s corpus %s\n' "$t" "$elapsed" "${execs:-?}" \
            "${cov:-?}" "${ft:-?}" "${corp:-?}"
    else
        failed+=("$t")
        printf 'fuzz %-15s FAIL  %5ss  exit %s; log %s; artifacts in %s/\n' "$t" "$elapsed" "$rc" "$log" "$art"
        grep -E -A3 'ERROR: libFuzzer|ERROR: AddressSanitizer|runtime error|FUZZ_CHECK failed|ERROR: LeakSanitizer' \
            "$log" | head -20
        grep -E '^artifact_prefix|Test unit written to' "$log" | head -3
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
