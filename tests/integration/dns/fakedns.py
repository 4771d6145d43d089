#!/usr/bin/env python3
"""fakedns.py MODE PORT [UPSTREAM_PORT DELAY_MS] - the DNS servers that
misbehave, on 127.0.0.1 UDP (and TCP for "bad"), for tests:

  drop      read every question, never answer (timeouts)
  servfail  answer every question with SERVFAIL
  refused   answer every question with REFUSED
  hostile   answer A with 127.0.0.2 and TXT with a record full of CR, LF,
            NUL, 8-bit bytes and 600 bytes of text (a DNSBL that attacks)
  delay     forward to 127.0.0.1:UPSTREAM_PORT and hand each answer back
            DELAY_MS later (the benchmark's slow server); answers overlap
  bad       TXT for spf-huge.test: one SPF record of 10,000 bytes whose
            "-all" is at its very end, truncated (TC) over UDP and whole
            over TCP, as a real server sends what does not fit in 512
            bytes; every other question: an answer whose record claims
            more data than the message holds (malformed)

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


def qname_type(q):
    """the question's name (lower case) and type"""
    labels, i = [], 12
    while i < len(q) and q[i] != 0:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace").lower())
        i += 1 + q[i]
    return ".".join(labels), struct.unpack(">H", q[i + 1:i + 3])[0]


HUGE = b"v=spf1 ip4:198.51.100.1" + b" " * (10000 - 23 - 5) + b" -all"


def bad(q, tcp):
    name, qtype = qname_type(q)
    if qtype == 16 and name == "spf-huge.test":
        if not tcp:
            end = question_end(q)
            hdr = q[:2] + struct.pack(">HHHHH", 0x8380, 1, 0, 0, 0)  # QR, TC, RD, RA
            return hdr + q[12:end]
        rdata = b"".join(bytes([len(HUGE[i:i + 250])]) + HUGE[i:i + 250]
                         for i in range(0, len(HUGE), 250))
        return reply(q, 0, rr(16, rdata), 1)
    # the record says 200 bytes of data follow; 12 do
    broken = struct.pack(">HHHIH", 0xC00C, qtype, 1, 60, 200) + b"\x04host\x04test\x00\x00"
    return reply(q, 0, broken, 1)


def tcp_answer(lsock, handler):
    """one TCP question (2-byte length, message), one answer, close"""
    c, _ = lsock.accept()
    c.settimeout(2)
    try:
        n = struct.unpack(">H", c.recv(2, socket.MSG_WAITALL))[0]
        q = c.recv(n, socket.MSG_WAITALL)
        if len(q) >= 12:
            a = handler(q, True)
            c.sendall(struct.pack(">H", len(a)) + a)
    except (OSError, struct.error):
        pass
    c.close()


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    t = None
    if mode == "bad":
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("127.0.0.1", port))
        t.listen(8)
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
        socks = [s] + ([up] if up else []) + ([t] if t else [])
        ready, _, _ = select.select(socks, [], [], timeout)
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, pkt, addr = heapq.heappop(due)
            s.sendto(pkt, addr)
        for r in ready:
            if r is t:
                tcp_answer(t, bad)
                continue
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
                elif mode == "bad":
                    s.sendto(bad(data, False), addr)
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
