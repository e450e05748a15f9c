#!/bin/bash
# Runs one tiny guest under hearth on the local /dev/kvm and checks hearth's
# exit status and the guest's serial output.
# Usage: tiny_guest.sh HEARTH GUEST EXPECTED_STATUS EXPECTED_OUTPUT [STDIN_TEXT [HEARTH_ARGS...]]
# Exit 0 on success, 1 on failure, 77 (skip) when /dev/kvm cannot be used.
set -u
hearth=$1 guest=$2 want_status=$3 want_out=$4 input=${5-}
shift 5 2>/dev/null || shift $#

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not accessible"
	exit 77
fi
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err" "$out.in"' EXIT
# A hung guest is a failure, never a stuck suite. Input "file:TEXT" comes
# from a regular file (which epoll cannot watch) instead of a pipe.
if [ "${input#file:}" != "$input" ]; then
	printf '%s' "${input#file:}" >"$out.in"
	exec 3<"$out.in"
else
	exec 3< <(printf '%s' "$input")
fi
timeout 60 "$hearth" run --kernel "$guest" --memory 64 --serial stdio "$@" <&3 \
	>"$out" 2>"$err"
status=$?
echo "--- hearth exit status: $status (expected $want_status)"
echo "--- guest output:"; cat "$out"
echo "--- hearth stderr:"; cat "$err"
if [ "$status" != "$want_status" ]; then
	echo "FAIL: exit status $status, expected $want_status"
	exit 1
fi
if ! grep -q -- "$want_out" "$out"; then
	echo "FAIL: output does not contain '$want_out'"
	exit 1
fi
echo "PASS"
