#!/bin/bash
# Install every Debian package hearth needs to build and test.
#
# Idempotent and quiet: when every package below is already installed it does
# nothing at all; otherwise it runs `apt-get update` and installs the missing
# ones, printing apt's output only if something fails.
#
# To add a dependency, add one line to PACKAGES with a comment saying why.
set -euo pipefail

PACKAGES=(
	build-essential    # C compiler, linker, libc headers, make
	meson              # build system
	ninja-build        # meson's back end
	pkg-config         # meson finds libraries through it
	clang              # second compiler; sanitizers and libFuzzer builds
	libclang-rt-dev    # clang's runtimes: libFuzzer, ASan, UBSan (only recommended by clang)
	clang-format       # style check of every C file (.clang-format)
	libcmocka-dev      # unit test framework (tests/unit)
	acpica-tools       # iasl: disassembles and checks the generated ACPI tables
	qemu-system-x86    # nested test host (TCG + SVM), and the peer in benchmarks
	busybox-static     # userland of the test guests' and nested host's initramfs
	cpio               # packs initramfs archives
	xz-utils           # decompresses xz kernels (extract-vmlinux)
	zstd               # decompresses zstd kernels and modules
	kmod               # depmod for the extracted guest kernel's module tree
	tmux               # drives the interactive demo in tests (send-keys/capture-pane)
	liburing-dev       # io_uring for disk image I/O (src/backends/block_uring.c)
	iproute2           # /usr/bin/ip in the nested host: network namespaces (tests/nested)
	libmicrohttpd-dev  # HTTP server of the control API (src/api)
	libjson-c-dev      # JSON of the control API (src/api)
	libssl-dev         # SHA-256 (libcrypto) of snapshot files (src/snapshot)
	libseccomp-dev     # per-thread seccomp filters (src/sandbox/seccomp.c)
	libcurl4-openssl-dev # HTTP client of `hearth migrate` over the API socket (src/cli/migrate.c)
	libgnutls28-dev    # TLS 1.3 of the live-migration stream, --tls-psk/--tls-cert (src/migration/migration_tls.c)
	openssl            # makes the CA and certificates of the migration TLS test (tests/kvm/migration_tls.py)
	curl               # drives the control API over its UNIX socket in tests (tests/api)
	python3-yaml       # reads the API description in the contract test (tests/api)
	python3-jsonschema # validates API bodies against it (tests/api)
	fio                # bench/blk: disk benchmark run inside the guest (bench/initramfs.sh)
	iperf3             # bench/net: TCP benchmark in the guest and the nested host
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

log=$(mktemp /tmp/hearth-install-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -q >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: apt-get update failed" >&2
	exit 1
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: could not install: ${missing[*]}" >&2
	exit 1
fi
