#!/usr/bin/env python3
"""fakedns.py MODE PORT [UPSTREAM_PORT DELAY_MS] - the DNS servers that
misbehave, on 127.0.0.1 UDP, for tests:

  drop      read every question, never answer (timeouts)
  servfail  answer every question with SERVFAIL
  refused   answer every question with REFUSED
  hostile   answer A with 127.0.0.2 and TXT with a record full of CR, LF,
            NUL, 8-bit bytes and 600 bytes of text (a DNSBL that attacks)
  delay     forward to 127.0.0.1:UPSTREAM_PORT and hand each answer back
            DELAY_MS later (the benchmark's slow server); answers overlap

Writes "ready" on stdout once bound.  Stop it with SIGTERM.
"""
import heapq
import select
import socket
import struct
import sys
import time


def question_end(q):
    """offset just after the question section of query q"""
    i = 12
    while i < len(q) and q[i] != 0:
        i += 1 + q[i]
    return i + 5


def reply(q, rcode, answers=b"", ancount=0):
    end = question_end(q)
    flags = 0x8180 | rcode  # QR, RD, RA
    hdr = q[:2] + struct.pack(">HHHHH", flags, 1, ancount, 0, 0)
    return hdr + q[12:end] + answers


def rr(rtype, rdata):
    # name: pointer to the question name at offset 12
    return struct.pack(">HHHIH", 0xC00C, rtype, 1, 60, len(rdata)) + rdata


def hostile(q):
    qtype = struct.unpack(">H", q[question_end(q) - 4:question_end(q) - 2])[0]
    if qtype == 1:
        return reply(q, 0, rr(1, bytes([127, 0, 0, 2])), 1)
    if qtype == 16:
        evil = b"Listed\r\n250 fake\x00\x01\xff\xfe <script>" + b"x" * 200
        chunks = [evil, b"y" * 200]  # fits in 512 bytes: no TCP retry
        rdata = b"".join(bytes([len(c)]) + c for c in chunks)
        return reply(q, 0, rr(16, rdata), 1)
    return reply(q, 3)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    up = None
    delay = 0.0
    if mode == "delay":
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.bind(("127.0.0.1", 0))
        upstream = ("127.0.0.1", int(sys.argv[3]))
        delay = int(sys.argv[4]) / 1000.0
    print("ready", flush=True)
    pending = {}  # upstream id -> (client address, client id)
    due = []  # (time, seq, packet, address)
    seq = 0
    next_id = 1
    while True:
        timeout = None
        if due:
            timeout = max(0.0, due[0][0] - time.monotonic())
        socks = [s] + ([up] if up else [])
        ready, _, _ = select.select(socks, [], [], timeout)
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, pkt, addr = heapq.heappop(due)
            s.sendto(pkt, addr)
        for r in ready:
            data, addr = r.recvfrom(4096)
            if len(data) < 12:
                continue
            if r is s:
                if mode == "drop":
                    continue
                if mode == "servfail":
                    s.sendto(reply(data, 2), addr)
                elif mode == "refused":
                    s.sendto(reply(data, 5), addr)
                elif mode == "hostile":
                    s.sendto(hostile(data), addr)
                elif mode == "delay":
                    uid = next_id
                    next_id = next_id % 65535 + 1
                    pending[uid] = (addr, data[:2])
                    up.sendto(struct.pack(">H", uid) + data[2:], upstream)
            else:
                uid = struct.unpack(">H", data[:2])[0]
                if uid not in pending:
                    continue
                addr, cid = pending.pop(uid)
                seq += 1
                heapq.heappush(due, (time.monotonic() + delay, seq, cid + data[2:], addr))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
