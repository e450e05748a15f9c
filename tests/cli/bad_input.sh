#!/bin/bash
# Bad host-side input: each case must end hearth with the expected status and
# exactly one error line on stderr naming the problem (warnings aside), before
# any guest runs.
# Usage: bad_input.sh HEARTH TINY_GUEST_BZIMAGE
set -u
hearth=$1 guest=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 cases=0

# expect STATUS PATTERN -- ARGS...: run hearth ARGS, check status and stderr.
expect() {
	local want=$1 pattern=$2
	shift 3
	cases=$((cases + 1))
	"$hearth" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	local status=$? lines
	# Warnings may come first (memory above the host's RAM); one error line.
	lines=$(grep -vc '^hearth: warning:' "$tmp/err")
	if [ "$status" != "$want" ] || [ "$lines" != 1 ] || ! grep -q -- "$pattern" "$tmp/err" ||
		[ -s "$tmp/out" ]; then
		echo "FAIL: hearth $* -> status $status (want $want), $lines stderr line(s) (want 1 matching '$pattern'):"
		sed 's/^/    /' "$tmp/err"
		failures=$((failures + 1))
	else
		echo "ok: hearth $* -> $status: $(cat "$tmp/err")"
	fi
}

echo "not a kernel" >"$tmp/text"
: >"$tmp/empty"
head -c 4096 /dev/zero >"$tmp/zeros"

# Usage errors: status 2.
expect 2 "--kernel PATH is required" -- run
expect 2 "--cpus must be" -- run --kernel "$guest" --cpus 0
expect 2 "--cpus must be" -- run --kernel "$guest" --cpus 255
expect 2 "--cpus must be" -- run --kernel "$guest" --cpus two
expect 2 "not a size" -- run --kernel "$guest" --memory lots
expect 2 "too small" -- run --kernel "$guest" --memory 4M
expect 2 "not a multiple of 4 KiB" -- run --kernel "$guest" --memory 10001K
expect 2 "not a size" -- run --kernel "$guest" --memory 10000.5M
expect 2 "--serial" -- run --kernel "$guest" --serial telnet
expect 2 "--serial" -- run --kernel "$guest" --serial file:
expect 2 "--id" -- run --kernel "$guest" --id "bad id"
expect 2 "--dirty-log takes auto, ring or bitmap, not 'sometimes'" -- run --kernel "$guest" --dirty-log sometimes
expect 2 "unexpected argument" -- run --kernel "$guest" extra
expect 2 "unknown command" -- frobnicate
expect 2 "unknown option '--frobnicate'" -- run --kernel "$guest" --frobnicate
expect 2 "needs a value" -- run --kernel

# Host-side errors: status 1.
expect 1 "cannot open kernel $tmp/missing" -- run --kernel "$tmp/missing"
expect 1 "neither a bzImage nor an ELF" -- run --kernel "$tmp/text"
expect 1 "neither a bzImage nor an ELF" -- run --kernel "$tmp/empty"
expect 1 "neither a bzImage nor an ELF" -- run --kernel "$tmp/zeros"
expect 1 "cannot open kernel" -- run --kernel "$tmp"
expect 1 "cannot open initrd $tmp/missing" -- run --kernel "$guest" --initrd "$tmp/missing"
HEARTH_KVM_DEVICE=$tmp/no-kvm expect 1 "does not exist" -- run --kernel "$guest"
# PVM's KVM overflows dirty rings (vmm/dirty_ring.c): asking for one is refused.
if [ -d /sys/module/kvm_pvm ] && [ -w /dev/kvm ]; then
	expect 1 "--dirty-log ring: this host's KVM is PVM" -- run --kernel "$guest" --dirty-log ring
fi

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	# These need KVM: they fail while the VM is being built.
	head -c $((20 << 20)) /dev/zero >"$tmp/big-initrd"
	expect 1 "initrd" -- run --kernel "$guest" --memory 16 --initrd "$tmp/big-initrd"
	expect 1 "command line" -- run --kernel "$guest" --cmdline "$(head -c 3000 /dev/zero | tr '\0' x)"
	expect 1 "physical address space" -- run --kernel "$guest" --memory 8000T
	expect 1 "guest memory" -- run --kernel "$guest" --memory 50T
	if [ -n "${HEARTH_TEST_KERNEL:-}" ] && [ -f "$HEARTH_TEST_KERNEL" ]; then
		expect 1 "memory" -- run --kernel "$HEARTH_TEST_KERNEL" --memory 16
	else
		echo "note: HEARTH_TEST_KERNEL not set: the too-small-for-the-kernel case is left out"
	fi
else
	echo "note: /dev/kvm not accessible: the cases that need KVM are left out"
fi

echo "$cases cases, $failures failed"
[ $failures = 0 ]
