#!/bin/sh
# A clean reboot through init (busybox reboot signals PID 1).
echo "HEARTH-RESULT reboot=requested"
reboot
sleep 600
