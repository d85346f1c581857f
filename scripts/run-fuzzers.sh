#!/usr/bin/env bash
# Run every libFuzzer target BUILD_DIR/fuzz_* for SECONDS seconds each.
#
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS
#
# Per target <name> (the executable name without the "fuzz_" prefix):
#   corpus     BUILD_DIR/fuzz-corpus/<name>/     (created; seeded from fuzz/corpus/<name>/ if present)
#   artifacts  BUILD_DIR/fuzz-artifacts/<name>/  (crash-*, leak-*, timeout-*, oom-* inputs)
#   log        BUILD_DIR/fuzz-logs/<name>.log
# Prints one summary line per target, then "N passed, N failed".
# Exits non-zero if any target fails (libFuzzer's exit code is non-zero on a crash,
# sanitizer report, leak, timeout or OOM), or if there are no targets.
#
# Environment: FUZZ_UNIT_TIMEOUT (seconds per input before libFuzzer reports a hang,
# default 60), FUZZ_EXTRA_ARGS (extra libFuzzer flags, word-split).
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
}

[[ $# -eq 2 ]] || usage
build_dir=${1%/}
duration=$2
[[ -d $build_dir ]] || { echo "$0: build directory '$build_dir' does not exist" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]*$ ]] || { echo "$0: SECONDS must be a positive integer, got '$duration'" >&2; exit 2; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
unit_timeout=${FUZZ_UNIT_TIMEOUT:-60}
read -r -a extra_args <<<"${FUZZ_EXTRA_ARGS:-}"

# UBSan only reports and continues by default; make it abort so libFuzzer sees it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

shopt -s nullglob
targets=()
for f in "$build_dir"/fuzz_*; do
	[[ -f $f && -x $f ]] && targets+=("$f")
done
shopt -u nullglob

if [[ ${#targets[@]} -eq 0 ]]; then
	echo "$0: no executable fuzz_* targets in '$build_dir'" >&2
	echo "0 passed, 0 failed"
	exit 1
fi

passed=0
failed=0
for target in "${targets[@]}"; do
	exe=$(basename "$target")
	name=${exe#fuzz_}
	corpus="$build_dir/fuzz-corpus/$name"
	artifacts="$build_dir/fuzz-artifacts/$name"
	log="$build_dir/fuzz-logs/$name.log"
	mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"

	seeds=""
	for dir in "$repo_root/fuzz/corpus/$name" "$repo_root/fuzz/corpus/$exe"; do
		if [[ -d $dir ]]; then
			cp -R -- "$dir/." "$corpus/"
			seeds=$dir
			break
		fi
	done
	before=$(find "$corpus" -type f | wc -l)

	rc=0
	"$target" \
		-max_total_time="$duration" \
		-rss_limit_mb=2048 \
		-timeout="$unit_timeout" \
		-print_final_stats=1 \
		-artifact_prefix="$artifacts/" \
		${extra_args[@]+"${extra_args[@]}"} \
		"$corpus" >"$log" 2>&1 || rc=$?

	after=$(find "$corpus" -type f | wc -l)
	runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)
	info="${duration}s, ${runs:-?} runs, corpus $before -> $after${seeds:+ (seeded from ${seeds#"$repo_root"/})}"
	if [[ $rc -eq 0 ]]; then
		passed=$((passed + 1))
		echo "PASS $exe ($info)"
	else
		failed=$((failed + 1))
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "FAIL $exe (exit $rc; $info)${artifact:+ artifact: $artifact}; log: $log"
		grep -E -m 5 '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error:|ERROR: libFuzzer)' "$log" | sed 's/^/    /' || true
	fi
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
