# Where Linux guests run, and the nested test host (bash library).
#
# Sourced by tests/nested/run.sh, bench/boot and scripts/demo.sh:
#   nested_where              prints "direct" when the local /dev/kvm runs
#                             stock kernels, otherwise "nested"
#   l1_run MEM_MIB MODE FILE  boots the nested host (L1) with FILE as the
#                             command it runs from /hearth, and returns that
#                             command's exit status. MODE is "batch" (console
#                             on stdout, stdin unused) or "interactive" (the
#                             terminal is L1's serial port, raw).
#
# L1 is Debian's cloud kernel (the guest's own, from guest/prepare.sh) under
# QEMU's TCG with `-cpu max` (AMD SVM), so kvm-amd gives it a real /dev/kvm.
# It has no network card. Its root is an uncompressed initramfs: busybox,
# the KVM/tun/veth modules, Debian's QEMU (the validation VMM and the peer in
# benchmarks), GNU date (nanosecond clock), iproute2's ip (/usr/bin/ip:
# network namespaces), the hearth binary with its
# shared libraries, and the source tree's tests/nested, bench and guest/out
# under /hearth. It prints `HEARTH-L1-EXIT rc=N` and powers off.
#
# Environment: HEARTH_WHERE=direct|nested overrides the choice;
# HEARTH_L1_OUT (default guest/out/l1) caches L1's fixed part (base.cpio);
# each boot works in its own L1_RUN directory (default: a new run.* there,
# removed after a boot that gave a verdict), so runs may overlap;
# HEARTH_L1_APPEND adds to its kernel command line; HEARTH_L1_ACCEL and
# HEARTH_L1_CPU replace "tcg,thread=multi" and "max";
# HEARTH_BIN (default build/hearth); HEARTH_L1_SMP (default 2);
# HEARTH_L1_BENCH=1 adds guest/out/bench-initramfs.cpio.gz, iperf3 (and strace);
# HEARTH_L1_DEBUG=1 shows L1's kernel messages; HEARTH_L1_VMLINUX=1 adds
# guest/out/vmlinux to L1 (PVH tests); HEARTH_L1_DISKS (host files, raw)
# become L1's /dev/vda, /dev/vdb... QEMU's process id is in $L1_RUN/qemu.pid.

NESTED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HEARTH_ROOT=$(cd "$NESTED_DIR/../.." && pwd)
GUEST_OUT=${HEARTH_GUEST_OUT:-$HEARTH_ROOT/guest/out}
L1_OUT=${HEARTH_L1_OUT:-$GUEST_OUT/l1}
HEARTH_BIN=${HEARTH_BIN:-$HEARTH_ROOT/build/hearth}
# shellcheck source=tests/nested/config.sh
. "$NESTED_DIR/config.sh"

# Modules L1 loads, in order (paths under lib/modules/VERSION/kernel).
L1_MODULES=(
	virt/lib/irqbypass.ko
	arch/x86/kvm/kvm.ko
	arch/x86/kvm/kvm-amd.ko
	drivers/net/tun.ko
	drivers/net/veth.ko
	net/llc/llc.ko
	net/802/stp.ko
	net/bridge/bridge.ko
	drivers/virtio/virtio_ring.ko
	drivers/virtio/virtio.ko
	drivers/virtio/virtio_pci_modern_dev.ko
	drivers/virtio/virtio_pci_legacy_dev.ko
	drivers/virtio/virtio_pci.ko
	drivers/block/virtio_blk.ko
)

# Data files QEMU's microvm and PVH loading need (from /usr/share/qemu).
L1_QEMU_DATA=(bios-microvm.bin qboot.rom pvh.bin linuxboot_dma.bin linuxboot.bin
	multiboot_dma.bin kvmvapic.bin bios-256k.bin efi-virtio.rom)

l1_die() {
	echo "nested: $*" >&2
	exit 1
}

nested_where() {
	if [ -n "${HEARTH_WHERE:-}" ]; then
		echo "$HEARTH_WHERE"
	elif [ ! -c /dev/kvm ] || [ -d /sys/module/kvm_pvm ]; then
		# No KVM, or PVM's (stock kernels do not boot on it).
		echo nested
	elif [ -x "$HEARTH_BIN" ]; then
		if "$HEARTH_BIN" check >/dev/null 2>&1; then echo direct; else echo nested; fi
	elif [ -c /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		echo direct
	else
		echo nested
	fi
}

# direct_path: a PATH whose `sh` is busybox's, the shell the nested host
# runs the harness with. The cases, their helpers and the bench scripts use
# its `read -t` and `read -u` (dash, Debian's sh, has neither), also in
# commands they start (`ip netns exec ... sh -c`); run directly, they get it
# from this PATH.
direct_path() {
	local d=$L1_OUT/direct-bin
	mkdir -p "$d" && ln -sf "$(command -v busybox)" "$d/sh" ||
		l1_die "cannot make $d/sh (busybox-static: scripts/install-deps.sh)"
	echo "$d:$PATH"
}

# Make sure guest/out has the default guest.
l1_guest_ready() {
	"$HEARTH_ROOT/guest/prepare.sh" || l1_die "guest/prepare.sh failed"
}

# Copy an ELF program and the shared libraries it needs into the stage.
l1_add_elf() {
	local stage=$1 src=$2 dest=${3:-$2} lib
	mkdir -p "$stage/$(dirname "$dest")"
	cp -L "$src" "$stage/$dest"
	for lib in $(ldd "$src" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
		[ -e "$stage/$lib" ] && continue
		mkdir -p "$stage/$(dirname "$lib")"
		cp -L "$lib" "$stage/$lib"
	done
}

# The part of L1 that seldom changes, cached in $L1_OUT/base.cpio.
l1_base() {
	local kver kroot stamp stage qemu f applet tmp
	kver=$(cat "$GUEST_OUT/kernel.release")
	kroot=$GUEST_OUT/kernel
	qemu=$(command -v qemu-system-x86_64) || l1_die "qemu-system-x86_64 is missing (scripts/install-deps.sh)"
	stamp=$({
		cat "$kroot/.deb"
		stat -c '%n %s %Y' "$(command -v busybox)" "$qemu" /usr/bin/date
		cat "$NESTED_DIR/l1-init" "$NESTED_DIR/l1.sh" | sha256sum
	} | sha256sum | cut -d' ' -f1)
	mkdir -p "$L1_OUT"
	if [ -s "$L1_OUT/base.cpio" ] && [ "$(cat "$L1_OUT/base.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	stage=$(mktemp -d)
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,hearth,usr/share/qemu}
	chmod 1777 "$stage/tmp"
	cp "$(command -v busybox)" "$stage/bin/busybox"
	for applet in $(busybox --list-full); do
		[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
	done
	install -m 0755 "$NESTED_DIR/l1-init" "$stage/init"
	: >"$stage/etc/modules"
	for f in "${L1_MODULES[@]}"; do
		mkdir -p "$stage/lib/modules/$kver/kernel/$(dirname "$f")"
		cp "$kroot/lib/modules/$kver/kernel/$f" "$stage/lib/modules/$kver/kernel/$f"
		echo "kernel/$f" >>"$stage/etc/modules"
	done
	l1_add_elf "$stage" "$qemu" /usr/bin/qemu-system-x86_64
	for f in "${L1_QEMU_DATA[@]}"; do
		[ -e "/usr/share/qemu/$f" ] && cp -L "/usr/share/qemu/$f" "$stage/usr/share/qemu/$f"
	done
	# GNU date: busybox's has no nanoseconds (%N).
	l1_add_elf "$stage" /usr/bin/date /usr/bin/date
	# iproute2: busybox's ip has no netns or tuntap (call it as /usr/bin/ip).
	[ -x /usr/bin/ip ] && l1_add_elf "$stage" /usr/bin/ip /usr/bin/ip
	# curl: the control API's cases talk HTTP over its UNIX socket.
	[ -x /usr/bin/curl ] && l1_add_elf "$stage" /usr/bin/curl /usr/bin/curl
	echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
	echo "root:x:0:" >"$stage/etc/group"
	[ "$(id -u)" -eq 0 ] && mknod -m 0600 "$stage/dev/console" c 5 1
	tmp=$(mktemp "$L1_OUT/base.cpio.XXXXXX")
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$tmp"
	mv "$tmp" "$L1_OUT/base.cpio"
	echo "$stamp" >"$L1_OUT/base.stamp"
	rm -rf "$stage"
}

# The part that changes with every run: the tree's scripts, the guest, the
# hearth binary and the command to run; written to OUTPUT.
l1_payload() {
	local cmdfile=$1 output=$2 stage
	stage=$(mktemp -d)
	mkdir -p "$stage/hearth/tests" "$stage/hearth/guest/out" "$stage/hearth/build"
	cp -r "$NESTED_DIR" "$stage/hearth/tests/nested"
	[ -d "$HEARTH_ROOT/bench" ] && cp -r "$HEARTH_ROOT/bench" "$stage/hearth/bench"
	cp "$GUEST_OUT/vmlinuz" "$GUEST_OUT/initramfs.cpio.gz" "$stage/hearth/guest/out/"
	if [ -n "${HEARTH_L1_VMLINUX:-}" ] && [ -s "$GUEST_OUT/vmlinux" ]; then
		cp "$GUEST_OUT/vmlinux" "$stage/hearth/guest/out/"
	fi
	# bench/blk, bench/net: their guest (bench/initramfs.sh) and L1's iperf3.
	if [ -n "${HEARTH_L1_BENCH:-}" ]; then
		cp "$GUEST_OUT/bench-initramfs.cpio.gz" "$stage/hearth/guest/out/"
		l1_add_elf "$stage" /usr/bin/iperf3 /usr/bin/iperf3
		[ -x /usr/bin/strace ] && l1_add_elf "$stage" /usr/bin/strace /usr/bin/strace
	fi
	if [ -x "$HEARTH_BIN" ]; then
		l1_add_elf "$stage" "$HEARTH_BIN" /hearth/build/hearth
	elif [ "$HEARTH_VMM" = hearth ]; then
		l1_die "no hearth binary at $HEARTH_BIN (build it: meson setup build && ninja -C build)"
	fi
	# line-stamp (bench/line_stamp.c, built next to hearth): when console
	# lines arrive, for the migration cases and bench/migrate.
	local stamp_bin
	stamp_bin=$(dirname "$HEARTH_BIN")/bench/line-stamp
	[ -x "$stamp_bin" ] && l1_add_elf "$stage" "$stamp_bin" /hearth/build/line-stamp
	# The CPL-3 dirtying guest (tests/guests/dirty.S) for migrate_ring.
	local dirty_guest
	dirty_guest=$(dirname "$HEARTH_BIN")/tests/guests/dirty.bzImage
	if [ -f "$dirty_guest" ]; then
		mkdir -p "$stage/hearth/build/tests/guests"
		cp "$dirty_guest" "$stage/hearth/build/tests/guests/"
	fi
	install -m 0755 "$cmdfile" "$stage/hearth/l1-command"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
		>"$output"
	rm -rf "$stage"
}

l1_run() {
	local mem=$1 mode=$2 cmdfile=$3 append rc
	local rows cols run=${L1_RUN:-} own=
	[ -s "$GUEST_OUT/vmlinuz" ] || l1_guest_ready
	l1_base
	if [ -z "$run" ]; then
		run=$(mktemp -d "$L1_OUT/run.XXXXXX")
		own=1
	fi
	l1_payload "$cmdfile" "$run/payload.cpio"
	cat "$L1_OUT/base.cpio" "$run/payload.cpio" >"$run/l1.cpio"
	rm -f "$run/payload.cpio"
	append="console=ttyS0 panic=-1 ${HEARTH_L1_APPEND:-}"
	[ -n "${HEARTH_L1_DEBUG:-}" ] || append="$append loglevel=1"
	local qemu=(qemu-system-x86_64 -accel "${HEARTH_L1_ACCEL:-tcg,thread=multi}" -cpu "${HEARTH_L1_CPU:-max}" -smp "${HEARTH_L1_SMP:-2}"
		-m "$mem" -nodefaults -no-user-config -display none -no-reboot -nic none
		-kernel "$GUEST_OUT/vmlinuz" -initrd "$run/l1.cpio" -pidfile "$run/qemu.pid")
	# HEARTH_L1_DISKS: host files L1 sees as /dev/vda, /dev/vdb... (raw,
	# virtio-blk), with the host's page cache bypassed where the file
	# system allows O_DIRECT (HEARTH_L1_DISK_CACHE overrides).
	local disk n=0 cache
	for disk in ${HEARTH_L1_DISKS:-}; do
		cache=${HEARTH_L1_DISK_CACHE:-none}
		qemu+=(-drive "file=$disk,format=raw,if=none,id=l1disk$n,cache=$cache"
			-device "virtio-blk-pci,drive=l1disk$n")
		n=$((n + 1))
	done
	if [ "$mode" = interactive ]; then
		if [ -t 0 ] && read -r rows cols < <(stty size 2>/dev/null); then
			append="$append hearth.rows=$rows hearth.cols=$cols"
		fi
		# Raw bytes both ways, so Ctrl-A and Ctrl-C reach the program in L1.
		"${qemu[@]}" -append "$append" \
			-chardev stdio,id=s0,mux=off,signal=off -serial chardev:s0
		rc=$?
	else
		# Every run ends: a hung L1 is stopped after L1_TIMEOUT seconds.
		timeout -k 10 "${L1_TIMEOUT:-1800}" "${qemu[@]}" -append "$append" -serial stdio </dev/null |
			sed -u 's/\r$//' | tee "$run/console.log"
		rc=$(sed -n 's/^HEARTH-L1-EXIT rc=\([0-9]*\)$/\1/p' "$run/console.log" | tail -n1)
		if [ -z "$rc" ]; then
			[ -n "${L1_QUIET:-}" ] || echo "nested: the nested host ended without a verdict (crash or timeout);" \
				"console in $run/console.log" >&2
			rc=124
			own=
		fi
	fi
	rm -f "$run/l1.cpio"
	[ -z "$own" ] || rm -rf "$run"
	return $rc
}
