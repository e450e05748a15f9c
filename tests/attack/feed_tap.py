#!/usr/bin/env python3
"""Sends 200-byte frames into a tap from the host side, every 2 ms, until killed.

For tests/attack/run_attack.sh's `feed` rows: the guest's receive queue gets
frames while it posts its buffers. Waits (at most 30 s) for hearth to create
the tap, then brings it up.
Usage: feed_tap.py TAP
"""
import os
import socket
import subprocess
import sys
import time

tap = sys.argv[1]
for _ in range(3000):
    if os.path.exists('/sys/class/net/' + tap):
        break
    time.sleep(0.01)
subprocess.run(['ip', 'link', 'set', tap, 'up'], check=True)
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((tap, 0))
# Broadcast, a locally administered source, the local experimental EtherType.
frame = b'\xff' * 6 + b'\x02\x00\x00\x00\x00\x01' + b'\x88\xb5' + bytes(range(186))
while True:
    try:
        sock.send(frame)
    except OSError:
        pass  # the tap went down or away: hearth is exiting
    time.sleep(0.002)
