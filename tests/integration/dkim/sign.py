#!/usr/bin/python3
"""sign.py KEY SELECTOR DOMAIN [--hcanon C] [--bcanon C] [--length]
[--identity I] [--headers a,b,c] - sign the message on stdin with dkimpy
(an implementation independent of libopendkim) and write it, signature on
top, to stdout.  Line ends are made CRLF first, as on the wire."""
import argparse
import sys

import dkim

ap = argparse.ArgumentParser()
ap.add_argument("key")
ap.add_argument("selector")
ap.add_argument("domain")
ap.add_argument("--hcanon", default="relaxed")
ap.add_argument("--bcanon", default="relaxed")
ap.add_argument("--length", action="store_true")
ap.add_argument("--identity")
ap.add_argument("--headers")
a = ap.parse_args()
msg = sys.stdin.buffer.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
key = open(a.key, "rb").read()
sig = dkim.sign(msg, a.selector.encode(), a.domain.encode(), key,
                identity=a.identity.encode() if a.identity else None,
                canonicalize=(a.hcanon.encode(), a.bcanon.encode()),
                include_headers=[h.encode() for h in a.headers.split(",")] if a.headers else None,
                length=a.length)
sys.stdout.buffer.write(sig + msg)
