#!/usr/bin/python3
"""logs.py LINES BASE OUTDIR - the decision lines of a real run (one a line,
as the library logged them) spread over six hours from BASE (unix time,
an hour start): hour h holds the set h+1 times.  Written three ways, the
same events each: a traditional syslog file, ISO-stamped syslog lines, and
`journalctl -o export` (every third MESSAGE as a binary field)."""
import os
import struct
import sys
import time

lines = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
base = int(sys.argv[2])
out = sys.argv[3]
events = []
for h in range(6):
    for rep in range(h + 1):
        for i, line in enumerate(lines):
            t = base + h * 3600 + 60 * rep + i  # inside the hour
            events.append((t, line))
with open(os.path.join(out, "syslog"), "w") as f:
    for t, line in events:
        f.write(time.strftime("%b %e %H:%M:%S", time.gmtime(t)) +
                " mx policy-milter[4242]: libpolicy: " + line + "\n")
        f.write(time.strftime("%b %e %H:%M:%S", time.gmtime(t)) +
                " mx postfix/smtpd[99]: connect from unknown[192.0.2.1]\n")
with open(os.path.join(out, "iso"), "w") as f:
    for t, line in events:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) +
                ".123456+00:00 mx policy-milter[4242]: libpolicy: " + line + "\n")
with open(os.path.join(out, "export"), "wb") as f:
    for k, (t, line) in enumerate(events):
        f.write(b"__CURSOR=s=%d\n__REALTIME_TIMESTAMP=%d\nSYSLOG_IDENTIFIER=policy-milter\n"
                % (k, t * 1000000 + 1234))
        msg = ("libpolicy: " + line).encode()
        if k % 3 == 0:
            f.write(b"MESSAGE\n" + struct.pack("<Q", len(msg)) + msg + b"\n")
        else:
            f.write(b"MESSAGE=" + msg + b"\n")
        f.write(b"_PID=4242\n\n")
print(len(events))
