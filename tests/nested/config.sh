# Settings shared by tests/nested/*, bench/boot and scripts/demo.sh (POSIX sh).
#
# HEARTH_VMM picks the VMM that runs Linux guests: "hearth" (build/hearth) or
# "qemu" (Debian's qemu-system-x86_64 driven through the same command line by
# tests/nested/vmm.sh, to validate the harness itself).
HEARTH_VMM=${HEARTH_VMM:-hearth}

# Kernel command line of the default guest when a test gives none of its own.
HEARTH_GUEST_CMDLINE=${HEARTH_GUEST_CMDLINE:-console=ttyS0 quiet}
