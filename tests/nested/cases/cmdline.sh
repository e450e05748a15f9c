#!/bin/sh
# --cmdline: what is given reaches the guest's /proc/cmdline.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
probe="hearth.probe=cmdline-$$-xyzzy"
vm_start vm --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" \
	--cmdline "$GUEST_CMDLINE $probe hearth.test=cmdline"
vm_expect_exit vm
got=$(vm_result vm cmdline)
case " $got " in
*" $probe "*) ;;
*) fail "guest /proc/cmdline is '$got', without '$probe'" ;;
esac
pass
