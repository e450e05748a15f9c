#!/bin/sh
# A clean power-off through init (busybox poweroff signals PID 1).
echo "HEARTH-RESULT poweroff=requested"
poweroff
sleep 600
