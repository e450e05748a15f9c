#!/bin/sh
# The kernel command line the guest received.
echo "HEARTH-RESULT cmdline=$(cat /proc/cmdline)"
