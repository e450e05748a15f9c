#!/bin/sh
# The guest kernel boots without complaints: no WARN, BUG, Oops or firmware-bug line in its log.
# timeout: 150
# l1-memory-mib: 768
. "$HEARTH_ROOT/tests/nested/lib.sh"
# Known artifacts of the nested host, the same under any VMM there: TCG's
# `-cpu max` reports an XSAVE layout the guest finds inconsistent.
nested_artifacts='XSAVE consistency problem'
vm_run_test vm dmesg
n=$(vm_result vm kernel_complaints)
[ -n "$n" ] || fail "guest printed no count"
vm_results vm complaint >"$CASE_DIR/complaints"
if [ -n "${HEARTH_NESTED:-}" ]; then
	grep -v -e "$nested_artifacts" "$CASE_DIR/complaints" >"$CASE_DIR/real"
else
	cp "$CASE_DIR/complaints" "$CASE_DIR/real"
fi
if [ -s "$CASE_DIR/real" ]; then
	fail "$(grep -c . "$CASE_DIR/real") complaint(s) in the guest's log, first: $(head -n1 "$CASE_DIR/real")"
fi
pass
