#!/bin/sh
# Kernel complaints during boot: each WARN() (the message line after "cut
# here"), BUG, Oops and firmware-bug line, without its timestamp.
dmesg | awk '
	/-+\[ cut here \]-+/ { if (getline > 0) { sub(/^\[[^]]*\] */, ""); print "warn: " $0 }; next }
	/BUG:|Oops|Kernel panic|\[Firmware Bug\]|FIRMWARE BUG/ { sub(/^\[[^]]*\] */, ""); print "bug: " $0 }
' >/tmp/complaints
echo "HEARTH-RESULT kernel_complaints=$(grep -c . /tmp/complaints)"
head -n 10 /tmp/complaints | sed 's/^/HEARTH-RESULT complaint=/'
