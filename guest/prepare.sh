#!/bin/bash
# Build the default hearth guest into guest/out/:
#   vmlinuz            Debian's stock cloud kernel (bzImage)
#   vmlinux            the same kernel as an ELF (PVH boot), when
#                      scripts/extract-vmlinux.sh is there
#   initramfs.cpio.gz  busybox + the kernel's virtio and power-button modules
#                      + guest/init, guest/hearth-test, guest/tests/*.sh
#                      + guest/tools/*.c, each built static as /bin/hearth-NAME
#   kernel/            the unpacked kernel package (modules for the nested host)
#   kernel.release     the kernel's version string
#
# The kernel is fetched with `apt-get download` and unpacked with dpkg-deb; it
# is never installed on this machine. Nothing is downloaded again when the
# package is already in guest/out/cache/, and the initramfs is rebuilt only
# when one of its inputs changed.
#
# Environment: HEARTH_GUEST_OUT (default guest/out), HEARTH_KERNEL_PKG (a
# linux-image-* package name, default: what linux-image-cloud-amd64 depends on).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SRC/.." && pwd)
OUT=${HEARTH_GUEST_OUT:-$SRC/out}
CACHE=$OUT/cache
mkdir -p "$CACHE"
# One prepare at a time: test runs may start together.
exec 9>"$OUT/.lock"
flock 9

say() { echo "prepare: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# Run a command quietly; show its output only when it fails.
quiet() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$log" >&2
		rm -f "$log"
		die "failed ($rc): $*"
	fi
	rm -f "$log"
}

for tool in apt-get apt-cache dpkg-deb depmod cpio gzip busybox; do
	command -v "$tool" >/dev/null || die "$tool is missing (run scripts/install-deps.sh)"
done
BUSYBOX=$(command -v busybox)
# Debian's busybox-static is the one that runs without shared libraries.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 && BUSYBOX=/bin/busybox ||
		die "$BUSYBOX is not static (install busybox-static)"
fi

# --- 1. which kernel package ------------------------------------------------
resolve_pkg() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
pkg=${HEARTH_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(resolve_pkg)
	if [ -z "$pkg" ]; then
		say "package lists are empty: apt-get update"
		quiet apt-get update -q
		pkg=$(resolve_pkg)
	fi
fi
if [ -z "$pkg" ]; then
	# Offline: fall back to the newest package already cached.
	deb=$(ls -1 "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -n1)
	[ -n "$deb" ] || die "cannot resolve linux-image-cloud-amd64 and nothing is cached"
	pkg=$(basename "$deb")
	pkg=${pkg%%_*}
fi

# --- 2. fetch it (once) -------------------------------------------------------
deb=$(ls -1 "$CACHE/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$deb" ]; then
	say "downloading $pkg"
	(cd "$CACHE" && quiet apt-get download -q "$pkg")
	deb=$(ls -1 "$CACHE/${pkg}"_*.deb | sort -V | tail -n1)
fi

# --- 3. unpack it and index its modules ----------------------------------------
KROOT=$OUT/kernel
if [ "$(cat "$KROOT/.deb" 2>/dev/null || true)" != "$(basename "$deb")" ]; then
	say "unpacking $(basename "$deb")"
	rm -rf "$KROOT"
	mkdir -p "$KROOT"
	dpkg-deb -x "$deb" "$KROOT"
	kver=$(ls -1 "$KROOT/lib/modules" | head -n1)
	[ -n "$kver" ] || die "no modules in $deb"
	depmod -b "$KROOT" "$kver"
	basename "$deb" >"$KROOT/.deb"
fi
kver=$(ls -1 "$KROOT/lib/modules" | head -n1)
KCONFIG=$KROOT/boot/config-$kver
MODDIR=$KROOT/lib/modules/$kver
[ -f "$KCONFIG" ] || die "no kernel config in $deb"
[ -f "$MODDIR/modules.dep" ] || die "depmod did not run on $KROOT"
echo "$kver" >"$OUT/kernel.release.tmp"
cmp -s "$OUT/kernel.release.tmp" "$OUT/kernel.release" 2>/dev/null &&
	rm -f "$OUT/kernel.release.tmp" || mv "$OUT/kernel.release.tmp" "$OUT/kernel.release"

if ! cmp -s "$KROOT/boot/vmlinuz-$kver" "$OUT/vmlinuz" 2>/dev/null; then
	cp "$KROOT/boot/vmlinuz-$kver" "$OUT/vmlinuz"
fi

# --- 4. vmlinux for PVH boot ---------------------------------------------------
EXTRACT=$ROOT/scripts/extract-vmlinux.sh
if [ -x "$EXTRACT" ] || [ -f "$EXTRACT" ]; then
	if [ ! -s "$OUT/vmlinux" ] || [ "$OUT/vmlinuz" -nt "$OUT/vmlinux" ] ||
		[ "$EXTRACT" -nt "$OUT/vmlinux" ]; then
		if sh "$EXTRACT" "$OUT/vmlinuz" "$OUT/vmlinux.tmp" >"$OUT/vmlinux.log" 2>&1 &&
			[ "$(head -c4 "$OUT/vmlinux.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
			mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
			rm -f "$OUT/vmlinux.log"
		else
			rm -f "$OUT/vmlinux.tmp"
			say "warning: scripts/extract-vmlinux.sh gave no ELF (see $OUT/vmlinux.log)"
		fi
	fi
fi

# --- 5. the initramfs ------------------------------------------------------------
# Modules the guest loads at boot, in dependency order, each with the config
# symbol that builds it: =m means copy the module, =y means built in.
GUEST_MODULES=(
	"virtio_ring VIRTIO"
	"virtio VIRTIO"
	"virtio_pci_modern_dev VIRTIO_PCI_LIB"
	"virtio_pci_legacy_dev VIRTIO_PCI_LIB_LEGACY"
	"virtio_pci VIRTIO_PCI"
	"virtio_mmio VIRTIO_MMIO"
	"virtio_blk VIRTIO_BLK"
	"virtio-rng HW_RANDOM_VIRTIO"
	"virtio_console VIRTIO_CONSOLE"
	"failover FAILOVER"
	"net_failover NET_FAILOVER"
	"virtio_net VIRTIO_NET"
	"button ACPI_BUTTON"
	"evdev INPUT_EVDEV"
)

# Print the module's path relative to MODDIR, its dependencies first.
declare -A listed=()
module_paths() {
	local name=$1 rel dep line
	rel=$(awk -F: -v n="$name" '{ f = $1; sub(".*/", "", f); sub(/\.ko(\.[a-z]+)?$/, "", f);
		if (f == n) { print $1; exit } }' "$MODDIR/modules.dep")
	[ -n "$rel" ] || die "module $name not found in $MODDIR"
	line=$(grep -m1 "^$rel:" "$MODDIR/modules.dep")
	# modules.dep lists dependencies nearest first: load them in reverse.
	for dep in $(echo "${line#*:}" | tr ' ' '\n' | tac); do
		if [ -z "${listed[$dep]:-}" ]; then
			listed[$dep]=1
			echo "$dep"
		fi
	done
	if [ -z "${listed[$rel]:-}" ]; then
		listed[$rel]=1
		echo "$rel"
	fi
}

modlist=$(mktemp)
trap 'rm -f "$modlist"' EXIT
for entry in "${GUEST_MODULES[@]}"; do
	read -r name sym <<<"$entry"
	val=$(sed -n "s/^CONFIG_$sym=\(.*\)$/\1/p" "$KCONFIG")
	case "$val" in
	m) module_paths "$name" >>"$modlist" ;;
	y) ;; # built into the kernel
	*) say "warning: CONFIG_$sym is not set: the guest has no $name" ;;
	esac
done

# Everything the initramfs is made of, hashed: rebuild when any changed.
inputs_hash() {
	{
		echo "deb $(basename "$deb")"
		cat "$BUSYBOX" "$SRC/init" "$SRC/hearth-test" "$SRC/prepare.sh" | sha256sum
		(cd "$SRC" && find tests tools -type f -name '*.[ch]' -o -type f -name '*.sh' |
			LC_ALL=C sort | xargs -r sha256sum)
		cat "$modlist"
	} | sha256sum | cut -d' ' -f1
}
hash=$(inputs_hash)
if [ -s "$OUT/initramfs.cpio.gz" ] && [ "$(cat "$OUT/initramfs.stamp" 2>/dev/null || true)" = "$hash" ]; then
	exit 0
fi

say "building initramfs.cpio.gz"
stage=$(mktemp -d)
trap 'rm -f "$modlist"; rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,proc,sys,dev,run,tmp,root,tests,var/log}
chmod 1777 "$stage/tmp"
cp "$BUSYBOX" "$stage/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
	[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
install -m 0755 "$SRC/init" "$stage/init"
install -m 0755 "$SRC/hearth-test" "$stage/etc/hearth-test"
for t in "$SRC"/tests/*.sh; do
	install -m 0755 "$t" "$stage/tests/"
done
# Guest programs in C (tools/NAME.c -> /bin/hearth-NAME), static: the guest
# has no C library.
for t in "$SRC"/tools/*.c; do
	[ -e "$t" ] || continue
	quiet "${CC:-cc}" -static -O2 -std=gnu11 -Wall -Wextra -Werror -o "$stage/bin/hearth-$(basename "$t" .c)" "$t"
done
while read -r rel; do
	mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
	cp "$MODDIR/$rel" "$stage/lib/modules/$kver/$rel"
done <"$modlist"
cp "$modlist" "$stage/etc/modules"
cat >"$stage/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# ACPI power button pressed: shut down cleanly.
exec poweroff
EOF
chmod 0755 "$stage/etc/acpi/PWRF/00000080"
cat >"$stage/etc/profile" <<'EOF'
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PS1='hearth-guest:\w# '
EOF
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
echo "hearth-guest" >"$stage/etc/hostname"
# The kernel opens /dev/console before running /init; only root can make it.
[ "$(id -u)" -eq 0 ] && mknod -m 0600 "$stage/dev/console" c 5 1

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -6 -n >"$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
echo "$hash" >"$OUT/initramfs.stamp"
say "guest ready in $OUT ($kver)"
