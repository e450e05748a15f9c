#!/bin/bash
# Runs one hostile tiny guest (tests/attack/*.S) under hearth on the local
# /dev/kvm and checks that hearth survived it:
#   - hearth exits with status 0 (the guest resets the machine after its
#     report) within the guard timeout: never a hang, a crash or a signal;
#   - the guest's report line says the expected outcome (PASS or REJECT),
#     and no ATTACK-FAIL line;
#   - nothing from ASan/UBSan/LeakSanitizer on stderr;
#   - the disk image is unchanged (no attack may write it);
#   - for REJECT, hearth logged the guest's mistake (unless QUIET is
#     "quiet": a refusal the device answers without logging, such as
#     virtio-net's VIRTIO_NET_ERR).
# Usage: run_attack.sh HEARTH GUEST PASS|REJECT MACHINE [quiet|feed]
# feed (net only): while hearth runs, frames are sent into its tap from the
# host (feed_tap.py), for the guest's receive queue.
# MACHINE: mmio     virtio-blk and virtio-rng over virtio-mmio
#          mmio-smp the same with 2 vCPUs
#          pci      the same over virtio-pci
#          console  virtio-blk and a virtio console over virtio-mmio
#          net      virtio-blk and virtio-net (a tap) over virtio-mmio
#          legacy   no virtio devices
# Exit 0 on success, 1 on failure, 77 (skip) when /dev/kvm (or, for net,
# root and /dev/net/tun) cannot be used.
set -u
hearth=$1 guest=$2 want=$3 machine=$4 quiet=${5-}
name=$(basename "$guest" .bzImage)

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not accessible"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
img=$dir/disk.img
# 1 MiB of reproducible bytes, and a copy to compare with.
python3 -c '
import random, sys
sys.stdout.buffer.write(random.Random(6).randbytes(1 << 20))' >"$img" || exit 1
cp "$img" "$dir/orig.img"

args=(--kernel "$guest" --memory 64 --serial stdio --disk "path=$img,serial=attack")
case $machine in
mmio) args+=(--transport mmio --rng on) ;;
mmio-smp) args+=(--transport mmio --rng on --cpus 2) ;;
pci) args+=(--transport pci --rng on) ;;
console) args+=(--transport mmio --rng off --console virtio) ;;
net)
	if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ]; then
		echo "SKIP: virtio-net needs root and /dev/net/tun for its tap"
		exit 77
	fi
	args+=(--transport mmio --rng off --net "tap=hatk$$") ;;
legacy) args=(--kernel "$guest" --memory 64 --serial stdio --rng off) ;;
*)
	echo "unknown machine $machine"
	exit 1 ;;
esac
feeder=
if [ "$machine" = net ] && [ "$quiet" = feed ]; then
	python3 "$(dirname "$0")/feed_tap.py" "hatk$$" &
	feeder=$!
fi

# The timeout only guards against a hang; the guest ends the run itself.
timeout -k 5 60 "$hearth" run "${args[@]}" </dev/null >"$dir/out" 2>"$dir/err"
status=$?
if [ -n "$feeder" ]; then
	kill "$feeder" 2>/dev/null
	wait "$feeder" 2>/dev/null
fi
echo "--- hearth exit status: $status (expected 0)"
echo "--- guest output (last 40 lines):"; tail -n 40 "$dir/out" | cat -v
echo "--- hearth stderr (last 40 lines):"; tail -n 40 "$dir/err"

fail() {
	echo "FAIL: $*"
	exit 1
}
[ "$status" = 124 ] || [ "$status" = 137 ] && fail "hearth hung (killed after 60 s)"
[ "$status" = 0 ] || fail "exit status $status"
if grep -aqE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' \
	"$dir/err"; then
	fail "sanitizer report on stderr"
fi
grep -aq '^ATTACK-FAIL ' "$dir/out" && fail "$(grep -a '^ATTACK-FAIL ' "$dir/out")"
grep -aq "^ATTACK-$want $name: " "$dir/out" || fail "no 'ATTACK-$want $name:' report line"
[ "$(grep -ac '^ATTACK-' "$dir/out")" = 1 ] || fail "more than one report line"
cmp -s "$img" "$dir/orig.img" || fail "the disk image changed"
if [ "$want" = REJECT ] && [ "$quiet" != quiet ] && ! grep -aq 'guest error' "$dir/err"; then
	fail "hearth logged no guest error"
fi
echo "PASS: $(grep -a '^ATTACK-' "$dir/out")"
