#!/bin/sh
# PVH boot: the kernel's ELF (guest/out/vmlinux) boots through its PVH entry.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
[ -s "$GUEST_VMLINUX" ] || skip "no $GUEST_VMLINUX (scripts/extract-vmlinux.sh)"
vm_start vm --kernel "$GUEST_VMLINUX" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE hearth.test=boot"
vm_expect_exit vm
vm_expect vm HEARTH-GUEST-READY
[ "$(vm_result vm boot)" = ok ] || fail "guest test did not report boot=ok"
pass
