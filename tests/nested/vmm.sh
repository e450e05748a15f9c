#!/bin/sh
# vmm.sh run [OPTIONS]: run a Linux guest with the VMM chosen by HEARTH_VMM,
# taking hearth's command line:
#
#   run --kernel PATH [--initrd PATH] [--cmdline STRING] [--cpus N]
#       [--memory SIZE] [--id NAME] [--serial stdio|pty|file:PATH|socket:PATH|none]
#
# HEARTH_VMM=hearth execs $HEARTH_BIN (default build/hearth) as it is.
# HEARTH_VMM=qemu translates the options to Debian's qemu-system-x86_64
# (microvm, KVM) and gives it hearth's behaviour where tests rely on it:
# exit 0 on guest power-off or reboot, SIGTERM presses the ACPI power button,
# a second SIGTERM stops at once. VMM_QEMU_ACCEL and VMM_QEMU_CPU (default
# "kvm" and "host") let the harness itself be tried under TCG.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
HEARTH_BIN=${HEARTH_BIN:-$here/../../build/hearth}

die() {
	echo "vmm.sh: $*" >&2
	exit 2
}

[ "${1:-}" = run ] || die "usage: vmm.sh run [hearth run options]"

case "$HEARTH_VMM" in
hearth)
	[ -x "$HEARTH_BIN" ] || die "no hearth binary at $HEARTH_BIN"
	exec "$HEARTH_BIN" "$@"
	;;
qemu) ;;
*) die "unknown HEARTH_VMM '$HEARTH_VMM'" ;;
esac

shift
kernel= initrd= cmdline=console=ttyS0 cpus=1 memory=512M id= serial=stdio
while [ $# -gt 0 ]; do
	opt=$1
	case "$opt" in
	--*=*)
		val=${opt#*=}
		opt=${opt%%=*}
		;;
	--*)
		[ $# -ge 2 ] || die "$opt needs a value"
		val=$2
		shift
		;;
	*) die "unexpected argument '$opt'" ;;
	esac
	shift
	case "$opt" in
	--kernel) kernel=$val ;;
	--initrd) initrd=$val ;;
	--cmdline) cmdline=$val ;;
	--cpus) cpus=$val ;;
	--memory) memory=$val ;;
	--id) id=$val ;;
	--serial) serial=$val ;;
	*) die "unknown option $opt" ;;
	esac
done
[ -n "$kernel" ] || die "--kernel is required"

# SIZE: a number with an optional K/M/G/T suffix (bare numbers are MiB).
case "$memory" in
*[kK] | *[kK]i[bB]) mem="${memory%%[kK]*}K" ;;
*[mM] | *[mM]i[bB]) mem="${memory%%[mM]*}M" ;;
*[gG] | *[gG]i[bB]) mem="${memory%%[gG]*}G" ;;
*[tT] | *[tT]i[bB]) mem="${memory%%[tT]*}T" ;;
*) mem="${memory}M" ;;
esac

ctl=$(mktemp -d /tmp/vmm-qemu.XXXXXX) || die "mktemp failed"
mkfifo "$ctl/mon.in" "$ctl/mon.out" || die "mkfifo failed"

set -- -M microvm -accel "${VMM_QEMU_ACCEL:-kvm}" -cpu "${VMM_QEMU_CPU:-host}" -smp "$cpus" -m "$mem" \
	-nodefaults -no-user-config -display none -no-reboot \
	-chardev "pipe,id=ctl,path=$ctl/mon" -mon chardev=ctl,mode=readline \
	-kernel "$kernel" -append "$cmdline"
[ -n "$initrd" ] && set -- "$@" -initrd "$initrd"
[ -n "$id" ] && set -- "$@" -name "$id"
case "$serial" in
stdio)
	# mux=on gives Ctrl-A x (quit) like hearth's console.
	set -- "$@" -chardev stdio,id=con,mux=on,signal=off -serial chardev:con \
		-mon chardev=con,mode=readline
	;;
pty) set -- "$@" -serial pty ;;
file:*) set -- "$@" -serial "file:${serial#file:}" ;;
socket:*) set -- "$@" -chardev "socket,id=con,path=${serial#socket:},server=on,wait=off" \
	-serial chardev:con ;;
none) set -- "$@" -serial none ;;
*) die "unknown --serial '$serial'" ;;
esac

terms=0
on_term() {
	terms=$((terms + 1))
	if [ $terms -eq 1 ]; then
		echo system_powerdown 1<>"$ctl/mon.in"
	else
		echo quit 1<>"$ctl/mon.in"
	fi
}
trap on_term TERM

# Asynchronous commands get /dev/null as stdin unless told otherwise: hand
# the guest console our real stdin through fd 3.
exec 3<&0
cat "$ctl/mon.out" >/dev/null &
drain=$!
qemu-system-x86_64 "$@" <&3 3<&- &
qpid=$!
exec 3<&-
rc=0
while kill -0 "$qpid" 2>/dev/null; do
	wait "$qpid"
	rc=$?
done
kill "$drain" 2>/dev/null
rm -rf "$ctl"
exit "$rc"
