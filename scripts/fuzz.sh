#!/bin/bash
# A fuzzing campaign on one of the libFuzzer targets of tests/fuzz/.
#
# Builds the targets with clang, libFuzzer, ASan and UBSan in build-fuzz/
# (meson -Dfuzzing=true, the whole of hearth instrumented for coverage),
# copies the target's seed corpus tests/fuzz/corpus/TARGET/ to
# build-fuzz/fuzz/TARGET/corpus/ and fuzzes for SECONDS (default 60) there.
# Findings (crash-*, leak-*, timeout-*, oom-* files) are written to
# build-fuzz/fuzz/TARGET/crashes/; the script names them at the end and
# exits non-zero when there is one. With --merge, the inputs the run found
# that reach new code are added to the seed corpus (minimized, edge
# coverage only, so it stays small); commit them with the fix they test.
#
# With --cpu, SECONDS are CPU seconds of the fuzzing process rather than
# wall-clock seconds (it is interrupted once it has used them, however busy
# the machine is); either way the script prints the CPU and wall time used.
#
# Usage: scripts/fuzz.sh [--merge] [--cpu] TARGET|all [SECONDS] [-- LIBFUZZER_OPTIONS...]
#   TARGET: virtqueue, virtio_blk, virtio_net, virtio_mmio, virtio_pci, snapshot, api, migration,
#           kernel_loader, legacy
#   all:    each target in turn, SECONDS each
# Replaying a finding: build-fuzz/tests/fuzz/fuzz_TARGET FILE, or without
# libFuzzer FUZZ_TRACE=1 build/tests/fuzz/fuzz_TARGET_replay FILE (prints
# each step of the input's program).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

targets=(virtqueue virtio_blk virtio_net virtio_mmio virtio_pci snapshot api kernel_loader legacy migration)
usage() {
	echo "usage: scripts/fuzz.sh [--merge] [--cpu] TARGET|all [SECONDS] [-- LIBFUZZER_OPTIONS...]" >&2
	echo "targets: ${targets[*]}" >&2
	exit 2
}

merge=0 cpu=0
while [ $# -ge 1 ]; do
	case $1 in
	--merge) merge=1 ;;
	--cpu) cpu=1 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 1 ] || usage
target=$1
shift
secs=60
if [ $# -ge 1 ] && [ "$1" != -- ]; then
	secs=$1
	shift
fi
[ "${1:-}" = -- ] && shift
extra=("$@")
[[ $secs =~ ^[0-9]+$ ]] || usage
if [ "$target" = all ]; then
	run=("${targets[@]}")
else
	[ -f "tests/fuzz/fuzz_$target.c" ] || usage
	run=("$target")
fi

scripts/install-deps.sh
if [ ! -f build-fuzz/build.ninja ]; then
	# -Dwerror=false: clang warns about a few things gcc does not, outside tests/fuzz.
	CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dwerror=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
echo "=== building ${run[*]} in build-fuzz/"
if ! ninja -C build-fuzz "${run[@]/#/tests/fuzz/fuzz_}" >build-fuzz/ninja.log 2>&1; then
	tail -40 build-fuzz/ninja.log
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in "${run[@]}"; do
	work=build-fuzz/fuzz/$t
	mkdir -p "$work/corpus" "$work/crashes"
	cp -n tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
	if [ $cpu = 1 ]; then
		echo "=== fuzzing $t for $secs CPU seconds (log: $work/log)"
		limit=(-max_total_time=$((secs * 50)))
	else
		echo "=== fuzzing $t for $secs s (log: $work/log)"
		limit=(-max_total_time="$secs")
	fi
	rc=0 started=$(date +%s)
	build-fuzz/tests/fuzz/fuzz_"$t" "${limit[@]}" -print_final_stats=1 \
		-artifact_prefix="$work/crashes/" "${extra[@]}" "$work/corpus" >"$work/log" 2>&1 &
	pid=$!
	# The fuzzer's CPU time (user + system), sampled each second until it
	# ends; with --cpu it is interrupted (SIGINT: libFuzzer ends cleanly)
	# once it has had its seconds.
	used=0
	while read -r -a st 2>/dev/null <"/proc/$pid/stat"; do
		[ "${st[2]}" = Z ] && break
		used=$(((st[13] + st[14]) / $(getconf CLK_TCK)))
		[ $cpu = 1 ] && [ "$used" -ge "$secs" ] && kill -INT "$pid" 2>/dev/null
		sleep 1
	done
	wait "$pid" || rc=$?
	# libFuzzer exits non-zero when interrupted: that is not a finding.
	if [ $cpu = 1 ] && [ "$rc" != 0 ] && grep -q 'run interrupted' "$work/log" &&
		! grep -q -E '^==[0-9]+==ERROR|^SUMMARY: ' "$work/log"; then
		rc=0
	fi
	echo "=== $t: about $used CPU seconds in $(($(date +%s) - started)) s"
	grep -E '^#[0-9]+.*(DONE|INITED)|^stat::(number_of_executed_units|average_exec_per_sec)' \
		"$work/log" || true
	if [ "$rc" != 0 ]; then
		status=1
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz check failed)' "$work/log" || tail -20 "$work/log"
		echo "FINDING: the input is in $top/$work/crashes/:"
		ls -1t "$work/crashes" | head -5 | sed 's/^/  /'
	elif [ -n "$(ls -A "$work/crashes")" ]; then
		echo "no new finding; earlier ones are still in $top/$work/crashes/"
	fi
	if [ $merge = 1 ]; then
		build-fuzz/tests/fuzz/fuzz_"$t" -merge=1 -use_counters=0 tests/fuzz/corpus/"$t" \
			"$work/corpus" >"$work/merge.log" 2>&1
		grep -E 'MERGE-OUTER: [0-9]+ new files' "$work/merge.log" || true
	fi
done
exit $status
