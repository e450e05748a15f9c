#!/bin/sh
# Print a numbered tick every 0.2 s until something outside ends the guest
# (the API pause test watches the ticks stop and go on).
echo "HEARTH-RESULT ticks=ready"
i=0
while :; do
	i=$((i + 1))
	echo "HEARTH-TICK $i"
	sleep 0.2
done
