#!/bin/sh
# How many CPUs the guest kernel brought online.
echo "HEARTH-RESULT nproc=$(nproc)"
echo "HEARTH-RESULT cpus_online=$(cat /sys/devices/system/cpu/online)"
