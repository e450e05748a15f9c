#!/bin/bash
# bench/initramfs.sh: build guest/out/bench-initramfs.cpio.gz, the guest of
# bench/blk and bench/net: the default guest's initramfs (guest/prepare.sh,
# left as it is) followed by a second archive with Debian's fio and iperf3,
# the shared libraries ldd lists for them, and bench/guest/*.sh as
# /tests/bench-*.sh (hearth.test=bench-blk, hearth.test=bench-net). The
# kernel unpacks both archives, the second over the first.
#
# Rebuilt only when an input changed. fio and iperf3 come from
# scripts/install-deps.sh. Environment: HEARTH_GUEST_OUT (default guest/out).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${HEARTH_GUEST_OUT:-$root/guest/out}

die() {
	echo "bench/initramfs.sh: $*" >&2
	exit 1
}

"$root/guest/prepare.sh" || die "guest/prepare.sh failed"
tools=(/usr/bin/fio /usr/bin/iperf3)
for t in "${tools[@]}"; do
	[ -x "$t" ] || die "$t is missing (scripts/install-deps.sh installs fio and iperf3)"
done

exec 9>"$out/.bench-lock"
flock 9

libs() {
	ldd "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'
}

stamp=$({
	sha256sum "$out/initramfs.cpio.gz" "${BASH_SOURCE[0]}" "$here"/guest/*.sh
	for t in "${tools[@]}"; do
		stat -L -c '%n %s %Y' "$t" $(libs "$t")
	done
} | sha256sum | cut -d' ' -f1)
if [ -s "$out/bench-initramfs.cpio.gz" ] &&
	[ "$(cat "$out/bench-initramfs.stamp" 2>/dev/null || true)" = "$stamp" ]; then
	exit 0
fi

echo "bench/initramfs.sh: building $out/bench-initramfs.cpio.gz" >&2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests" "$stage/usr/bin"
for t in "${tools[@]}"; do
	cp -L "$t" "$stage$t"
	for lib in $(libs "$t"); do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
done
for s in "$here"/guest/*.sh; do
	install -m 0755 "$s" "$stage/tests/bench-$(basename "$s")"
done
tmp=$(mktemp "$out/bench-initramfs.XXXXXX")
{
	cat "$out/initramfs.cpio.gz"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -1 -n
} >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$out/bench-initramfs.cpio.gz"
echo "$stamp" >"$out/bench-initramfs.stamp"
