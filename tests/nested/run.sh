#!/bin/bash
# tests/nested/run.sh [--list] [PATTERN...]
#
# Run the Linux-guest tests (tests/nested/cases/*.sh; shell patterns pick
# cases, none runs all). Where they run is decided once:
#   - directly on this machine when `build/hearth check` says its /dev/kvm
#     runs stock kernels;
#   - otherwise all selected cases run in one boot of the nested test host
#     (QEMU TCG with AMD SVM, see tests/nested/l1.sh). Should the nested host
#     crash or hang (it is test equipment: TCG's SVM is not flawless), the
#     cases not finished go on in a new boot; a case during which it crashes
#     five times fails (HEARTH_L1_RETRIES more boots at most, default 8). A case
#     failed by a guest's triple fault, or by a guest that never printed a
#     byte, runs again in the same boot, at most
#     HEARTH_TF_RETRIES (default 2) more times (runner.sh says why).
# Prints `PASS name`, `FAIL name: reason`, `SKIP name: reason`, a summary
# line, and exits 0 when no case failed.
#
# The VMM under test is HEARTH_VMM (tests/nested/config.sh): hearth, or qemu
# to validate the harness. A case says how much memory the nested host needs
# for it in a header line `# l1-memory-mib: N` and its time limit in
# `# timeout: SECONDS`.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nested/l1.sh
. "$here/l1.sh"

if [ "${1:-}" = --list ]; then
	for f in "$here"/cases/*.sh; do
		printf '%-12s %s\n' "$(basename "$f" .sh)" "$(sed -n '2s/^# //p' "$f")"
	done
	exit 0
fi

# The cases selected.
names=()
for f in "$here"/cases/*.sh; do
	name=$(basename "$f" .sh)
	if [ $# -gt 0 ]; then
		ok=
		for pat in "$@"; do
			# shellcheck disable=SC2053
			[[ $name == $pat ]] && ok=1
		done
		[ -n "$ok" ] || continue
	fi
	names+=("$name")
done
[ ${#names[@]} -gt 0 ] || l1_die "no case matches: $*"

l1_guest_ready
if [ "$HEARTH_VMM" = hearth ] && [ ! -x "$HEARTH_BIN" ]; then
	l1_die "no hearth binary at $HEARTH_BIN (meson setup build && ninja -C build)"
fi

if [ "$(nested_where)" = direct ]; then
	echo "nested: running on this machine's /dev/kvm with $HEARTH_VMM"
	PATH=$(direct_path) || exit 1
	exec sh "$here/runner.sh" "${names[@]}"
fi

# Watches a boot of the nested host: a case that gives neither a verdict nor
# a RETRY line within its own time limit plus 120 s (the runner in the nested
# host stops a case at its limit itself), or a nested host that starts no
# case within 600 s, or whose runner's heartbeat (a line every 20 s) stops
# for HEARTH_L1_SILENCE_LIMIT s (default 120), or a soft lockup of its
# kernel, means the nested host hangs (TCG's SVM has left its kernel stuck
# with no message): its QEMU is killed, and the loop below boots it again
# for the cases not done (HEARTH_L1_HANG_LIMIT sets the seconds for every
# case instead). Ends when the boot ends.
l1_watchdog() {
	local console=$L1_RUN/console.log last= line name t limit since beats=0 n beat_at
	since=$(date +%s)
	beat_at=$since
	while [ ! -e "$L1_RUN/watchdog.stop" ]; do
		sleep 2
		if grep -q 'soft lockup' "$console" 2>/dev/null; then
			echo "nested: the nested host's kernel locked up: stopping it"
			[ -s "$L1_RUN/qemu.pid" ] && kill -KILL "$(cat "$L1_RUN/qemu.pid")" 2>/dev/null
			return
		fi
		n=$(grep -c '^HEARTH-L1-ALIVE' "$console" 2>/dev/null)
		if [ "${n:-0}" != "$beats" ]; then
			beats=${n:-0}
			beat_at=$(date +%s)
		elif [ "$beats" -gt 0 ] && [ $(($(date +%s) - beat_at)) -gt "${HEARTH_L1_SILENCE_LIMIT:-120}" ]; then
			echo "nested: the nested host's heartbeat stopped ${HEARTH_L1_SILENCE_LIMIT:-120} s ago: it hangs; stopping it"
			[ -s "$L1_RUN/qemu.pid" ] && kill -KILL "$(cat "$L1_RUN/qemu.pid")" 2>/dev/null
			return
		fi
		line=$(grep -E '^(RUN|PASS|FAIL|SKIP|RETRY) ' "$console" 2>/dev/null | tail -n1)
		if [ "$line" != "$last" ]; then
			last=$line
			since=$(date +%s)
			continue
		fi
		case $line in
		'') limit=600 name="its boot" ;;
		RUN\ * | RETRY\ *)
			name=${line#* }
			name=${name%%[: ]*}
			t=$(sed -n 's/^# timeout: *//p' "$here/cases/$name.sh" 2>/dev/null | head -n1)
			limit=${HEARTH_L1_HANG_LIMIT:-$((${t:-180} + 120))}
			;;
		*) continue ;;
		esac
		if [ $(($(date +%s) - since)) -gt "$limit" ]; then
			echo "nested: no word from the nested host for $limit s during $name: it hangs; stopping it"
			[ -s "$L1_RUN/qemu.pid" ] && kill -KILL "$(cat "$L1_RUN/qemu.pid")" 2>/dev/null
			return
		fi
	done
}

# One boot of the nested host running the named cases. Shows their results;
# the console is left in $L1_RUN/console.log.
l1_boot_cases() {
	local mem=0 total=0 longest=0 vmlinux= name f m t cmd
	for name in "$@"; do
		f=$here/cases/$name.sh
		m=$(sed -n 's/^# l1-memory-mib: *//p' "$f" | head -n1)
		t=$(sed -n 's/^# timeout: *//p' "$f" | head -n1)
		[ "${m:-768}" -gt "$mem" ] && mem=${m:-768}
		total=$((total + ${t:-180}))
		[ "${t:-180}" -gt "$longest" ] && longest=${t:-180}
		grep -q GUEST_VMLINUX "$f" && vmlinux=1
	done
	# L1's own needs: its kernel, the initramfs (about 100 MiB, held twice
	# while unpacking) and the guest's files; vmlinux adds about 50 MiB.
	mem=$((mem + 512))
	[ -n "$vmlinux" ] && mem=$((mem + 128))
	cmd=$(mktemp)
	{
		echo "export HEARTH_VMM='$HEARTH_VMM' HEARTH_NESTED=1 HEARTH_TF_RETRIES='${HEARTH_TF_RETRIES:-2}'"
		echo "exec sh /hearth/tests/nested/runner.sh $*"
	} >"$cmd"
	echo "nested: $HEARTH_VMM in the nested test host (QEMU TCG + SVM, ${mem} MiB)," \
		"$# case(s)"
	# Time for every case, the retries of the longest and L1's own boot.
	total=$((total + longest * ${HEARTH_TF_RETRIES:-2} + 120))
	rm -f "$L1_RUN/watchdog.stop" "$L1_RUN/qemu.pid"
	l1_watchdog &
	local watchdog=$!
	# Show results, retries and failure details; kernel messages stay in the log.
	L1_QUIET=1 HEARTH_L1_VMLINUX=$vmlinux L1_TIMEOUT=$total l1_run "$mem" batch "$cmd" |
		grep --line-buffered -E '^(PASS|FAIL|SKIP|RETRY) |^    '
	: >"$L1_RUN/watchdog.stop"
	wait "$watchdog"
	rm -f "$cmd" "$L1_RUN/watchdog.stop"
}

mkdir -p "$L1_OUT"
L1_RUN=$(mktemp -d "$L1_OUT/run.XXXXXX")
export L1_RUN
results_file=$L1_RUN/results
: >"$results_file"
remaining=("${names[@]}")
boots=0
declare -A crashed=() ncrashed=()
while [ ${#remaining[@]} -gt 0 ]; do
	boots=$((boots + 1))
	l1_boot_cases "${remaining[@]}"
	log=$L1_RUN/console-$boots.log
	mv "$L1_RUN/console.log" "$log"
	grep -E '^(PASS|FAIL|SKIP) ' "$log" | while read -r verdict name rest; do
		name=${name%:}
		note=${crashed[$name]:+ (ran again: the nested host crashed during it before, ${crashed[$name]})}
		echo "$verdict $name${rest:+ $rest}${note}"
	done >>"$results_file"
	started=$(sed -n 's/^RUN //p' "$log")
	next=()
	for name in "${remaining[@]}"; do
		grep -q -E "^(PASS|FAIL|SKIP) $name( |:|\$)" "$log" && continue
		if grep -q -x "$name" <<<"$started"; then
			why=$(grep -m1 -E 'Kernel panic|BUG:|Oops' "$log" | sed 's/^\[[ 0-9.]*\] //')
			why=${why:-no verdict}
			ncrashed[$name]=$((${ncrashed[$name]:-0} + 1))
			if [ "${ncrashed[$name]}" -lt 5 ]; then
				# The nested host is test equipment: give the case
				# four more boots before blaming it.
				crashed[$name]="${crashed[$name]:+${crashed[$name]}, }$log"
				echo "nested: the nested host crashed or hung during $name ($why;" \
					"console: $log); $name runs again"
				next+=("$name")
				continue
			fi
			line="FAIL $name: the nested host crashed or hung during this case, five times ($why; console: $log)"
			echo "$line"
			echo "$line" >>"$results_file"
		else
			next+=("$name")
		fi
	done
	if [ ${#next[@]} -gt 0 ]; then
		if [ -z "$started" ] || [ "$boots" -gt "${HEARTH_L1_RETRIES:-8}" ]; then
			for name in "${next[@]}"; do
				line="FAIL $name: not run: the nested host failed (console: $log)"
				echo "$line"
				echo "$line" >>"$results_file"
			done
			next=()
		else
			echo "nested: booting the nested host again for the ${#next[@]} case(s) not run yet"
		fi
	fi
	remaining=("${next[@]+"${next[@]}"}")
done

mapfile -t results <"$results_file"
passed=0 failed=0 skipped=0
for line in "${results[@]}"; do
	case "$line" in
	PASS*) passed=$((passed + 1)) ;;
	FAIL*) failed=$((failed + 1)) ;;
	SKIP*) skipped=$((skipped + 1)) ;;
	esac
done
retries=$(cat "$L1_RUN"/console-*.log 2>/dev/null | grep -c '^RETRY ')
[ "$retries" -eq 0 ] ||
	echo "nested: $retries retry(ies) after a guest's triple fault or silence in the nested host (RETRY lines above)"
if [ "$failed" -eq 0 ]; then
	rm -rf "$L1_RUN"
else
	echo "nested: the nested host's console logs are in $L1_RUN"
fi
echo "nested: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
