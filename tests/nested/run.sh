#!/bin/bash
# tests/nested/run.sh [--list] [PATTERN...]
#
# Run the Linux-guest tests (tests/nested/cases/*.sh; shell patterns pick
# cases, none runs all). Where they run is decided once:
#   - directly on this machine when `build/hearth check` says its /dev/kvm
#     runs stock kernels;
#   - otherwise all selected cases run in one boot of the nested test host
#     (QEMU TCG with AMD SVM, see tests/nested/l1.sh).
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

# The cases selected, with their needs.
cases=()
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
	cases+=("$f")
done
[ ${#cases[@]} -gt 0 ] || l1_die "no case matches: $*"

l1_guest_ready
if [ "$HEARTH_VMM" = hearth ] && [ ! -x "$HEARTH_BIN" ]; then
	l1_die "no hearth binary at $HEARTH_BIN (meson setup build && ninja -C build)"
fi

where=$(nested_where)
if [ "$where" = direct ]; then
	echo "nested: running on this machine's /dev/kvm with $HEARTH_VMM"
	exec sh "$here/runner.sh" "$@"
fi

mem=0 total=0 vmlinux=
for f in "${cases[@]}"; do
	m=$(sed -n 's/^# l1-memory-mib: *//p' "$f" | head -n1)
	t=$(sed -n 's/^# timeout: *//p' "$f" | head -n1)
	[ "${m:-768}" -gt "$mem" ] && mem=${m:-768}
	total=$((total + ${t:-180}))
	grep -q GUEST_VMLINUX "$f" && vmlinux=1
done
# L1's own needs: its kernel, the initramfs (about 100 MiB, held twice
# while unpacking) and the guest's files; vmlinux adds about 50 MiB.
mem=$((mem + 512))
[ -n "$vmlinux" ] && mem=$((mem + 128))
export HEARTH_L1_VMLINUX=$vmlinux

cmd=$(mktemp)
trap 'rm -f "$cmd"' EXIT
{
	echo "export HEARTH_VMM='$HEARTH_VMM'"
	printf 'exec sh /hearth/tests/nested/runner.sh'
	for pat in "$@"; do printf " '%s'" "$pat"; done
	echo
} >"$cmd"
echo "nested: $HEARTH_VMM in the nested test host (QEMU TCG + SVM, ${mem} MiB)," \
	"${#cases[@]} case(s)"
L1_TIMEOUT=$((total + 120)) l1_run "$mem" batch "$cmd" |
	grep --line-buffered -v -e '^HEARTH-L1-EXIT' -e '^reboot: ' -e '^\[ *[0-9.]*\] reboot: '
exit "${PIPESTATUS[0]}"
