#!/bin/bash
# scripts/demo.sh: from a fresh checkout to a Linux shell in a hearth VM.
#
# Installs the Debian packages hearth needs, builds it, prepares the default
# guest (Debian's stock cloud kernel with a busybox initramfs) and boots it
# with hearth, the guest's serial console on this terminal. Type commands at
# the guest's shell; `poweroff` in the guest or Ctrl-A x ends the demo.
#
# Where this machine's /dev/kvm cannot boot a stock kernel (`hearth check`
# fails, e.g. PVM hosts), hearth runs inside the nested test host instead: a
# Debian kernel under QEMU's software CPU with AMD SVM emulated (slow, but a
# real KVM). Environment: HEARTH_WHERE=direct|nested forces the choice;
# HEARTH_DEMO_VMM=qemu shows the same guest under Debian's QEMU.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { echo "demo: $*"; }

step "installing build and test dependencies (Debian packages)"
scripts/install-deps.sh

step "building hearth"
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null || { ninja -C build; exit 1; }

step "preparing the default guest (Debian cloud kernel + busybox initramfs)"
guest/prepare.sh

# shellcheck source=tests/nested/l1.sh
. tests/nested/l1.sh
HEARTH_VMM=${HEARTH_DEMO_VMM:-hearth}
export HEARTH_VMM

where=$(nested_where)
if [ "$where" = direct ]; then
	step "booting the guest with $HEARTH_VMM; Ctrl-A x quits"
	exec tests/nested/vmm.sh run --kernel guest/out/vmlinuz --initrd guest/out/initramfs.cpio.gz
fi

if [ ! -c /dev/kvm ]; then
	reason="this machine has no /dev/kvm"
elif [ -d /sys/module/kvm_pvm ]; then
	reason="this machine's KVM is PVM, which boots only PVM-enabled kernels"
else
	reason="hearth check says this machine's KVM cannot boot stock kernels"
fi
step "$reason: running $HEARTH_VMM in the nested test host (QEMU TCG + SVM, slow); Ctrl-A x quits"
cmd=$(mktemp)
trap 'rm -f "$cmd"' EXIT
cat >"$cmd" <<EOF
export HEARTH_VMM=$HEARTH_VMM
echo "demo: nested test host up; starting $HEARTH_VMM (Ctrl-A x quits)"
# cttyhack makes the serial port (a terminal) the controlling tty, so the VMM
# gets a real terminal: raw keys, Ctrl-A x.
setsid cttyhack /hearth/tests/nested/vmm.sh run --kernel /hearth/guest/out/vmlinuz \
	--initrd /hearth/guest/out/initramfs.cpio.gz
EOF
rc=0
l1_run 2048 interactive "$cmd" || rc=$?
step "the nested test host has stopped"
exit $rc
