#!/usr/bin/env python3
"""rawmilter.py SOCKET - speak the milter protocol by hand to policy-milter:
read the reply texts miltertest cannot show, and send what a broken or
hostile MTA could (callbacks out of order, bad packets).  Prints TAP lines."""
import socket
import struct
import sys

SOCK = sys.argv[1]
failed = 0


def check(name, cond, detail=""):
    global failed
    print(("ok - " if cond else "not ok - ") + name)
    if not cond:
        failed += 1
        if detail:
            print("  " + detail)


class Milter:
    def __init__(self):
        if SOCK.startswith("unix:"):
            self.s = socket.socket(socket.AF_UNIX)
            self.s.connect(SOCK[5:])
        else:
            port, host = SOCK[5:].split("@")
            self.s = socket.create_connection((host, int(port)))
        self.s.settimeout(3)

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def read(self):
        """(command, payload); (None, b"") when the filter closed or said
        nothing (libmilter drops some out-of-order commands silently)."""
        try:
            return self._read()
        except (socket.timeout, OSError):
            return None, b""

    def _read(self):
        hdr = b""
        while len(hdr) < 4:
            got = self.s.recv(4 - len(hdr))
            if not got:
                return None, b""
            hdr += got
        n = struct.unpack(">I", hdr)[0]
        body = b""
        while len(body) < n:
            got = self.s.recv(n - len(body))
            if not got:
                return None, b""
            body += got
        return body[:1], body[1:]

    def ask(self, cmd, data=b""):
        self.send(cmd, data)
        return self.read()

    def negotiate(self, steps=0):
        return self.ask(b"O", struct.pack(">III", 6, 0x1FF, steps))

    def connect(self, host=b"mx.sender.test", ip=b"192.0.2.50"):
        return self.ask(b"C", host + b"\0" + b"4" + struct.pack(">H", 25) + ip + b"\0")

    def transaction(self, data=False):
        """negotiate, connect, MAIL and a good RCPT (and DATA when asked)"""
        self.negotiate()
        self.connect()
        self.ask(b"M", b"<a@sender.test>\0")
        self.ask(b"R", b"<good@example.test>\0")
        if data:
            self.ask(b"T")
        return self

    def close(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.s.close()


def text(reply):
    return reply[1].rstrip(b"\0").decode("ascii", "replace")


def healthy(name):
    m = Milter()
    m.negotiate()
    ok = m.connect()[0] == b"c" and m.ask(b"H", b"mx.sender.test\0")[0] == b"c" \
        and m.ask(b"M", b"<a@sender.test>\0")[0] == b"c" \
        and m.ask(b"R", b"<good@example.test>\0")[0] == b"c"
    m.close()
    check(name + ": a normal session works afterwards", ok)


# reply texts: the library's code, enhanced code and words
m = Milter()
m.negotiate()
m.connect()
m.ask(b"H", b"mx.sender.test\0")
m.ask(b"M", b"<a@sender.test>\0")
r = m.ask(b"R", b"<blocked@example.test>\0")
check("badrcptto reply is 553 5.7.1 from the library",
      r[0] == b"y" and text(r).startswith("553 5.7.1 "), repr(r))
r = m.ask(b"R", b"<x@elsewhere.test>\0")
check("relay reply is 553 5.7.1 and names the domain",
      r[0] == b"y" and text(r).startswith("553 5.7.1 ") and "elsewhere.test" in text(r), repr(r))
r = m.ask(b"R", b"<%25%n%s@example.test>\0")
check("format characters in an address are just a bad address",
      r[0] == b"y" and text(r).startswith("553 5.1.3 "), repr(r))
m.close()

# callbacks out of order, as a broken MTA might send them
m = Milter()
m.negotiate()
r = m.ask(b"H", b"early.helo\0")
check("HELO before connect is deferred with a reason",
      r[0] == b"y" and text(r).startswith("451 4.3.0"), repr(r))
m.close()
healthy("HELO before connect")

m = Milter()
m.negotiate()
m.connect()
r = m.ask(b"R", b"<good@example.test>\0")
check("RCPT before MAIL is not accepted", r[0] != b"c", repr(r))
r = m.ask(b"E")
check("end of message without a transaction is not accepted", r[0] not in (b"c", b"a"), repr(r))
m.close()
healthy("RCPT before MAIL")

m = Milter().transaction()
r = m.ask(b"L", b"Subject\0make money fast\0")
check("a header without DATA still meets the header rule", r[0] == b"y", repr(r))
m.close()

# values miltertest cannot send (it crashes near 10,000 bytes)
m = Milter().transaction(data=True)
r = m.ask(b"L", b"X-Long\0" + b"x" * 10000 + b"\0")
check("10,000-byte header value continues", r[0] == b"c", repr(r))
r = m.ask(b"L", b"X-Longer\0" + b"x" * 60000 + b"\0")
check("60,000-byte header value continues", r[0] == b"c", repr(r))
r = m.ask(b"L", b"Subject\0make money fast " + b"y" * 10000 + b"\0")
check("10,000-byte value matching a rule is still blocked", r[0] == b"y", repr(r))
m.close()

# malformed packets
m = Milter()
m.negotiate()
r = m.ask(b"C", b"no-terminator")
check("connect packet without NULs does not crash", True)
m.close()
healthy("malformed connect")

m = Milter()
m.negotiate()
m.connect(ip=b"999.1.2.3")
m.close()
healthy("bad IPv4 text")

m = Milter()
m.negotiate()
m.connect(host=b"h" * 5000)
r = m.ask(b"H", b"x" * 5000 + b"\0")
check("5,000-byte hostname and HELO do not crash", r[0] is not None, repr(r))
m.close()
healthy("long names")

m = Milter()
m.s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"O")
m.close()
healthy("absurd packet length")

m = Milter()
m.negotiate()
m.connect()
m.s.sendall(struct.pack(">I", 100) + b"M<half")
m.s.close()
healthy("packet cut off mid-way")

m = Milter().transaction(data=True)
r = m.ask(b"L", b"\0\0")
check("empty header name: libmilter drops the connection, nothing accepted", r[0] is None, repr(r))
m.close()
healthy("empty header name")

m = Milter()
m.negotiate()
m.connect()
m.send(b"Z", b"garbage")
m.close()
healthy("unknown command")

sys.exit(1 if failed else 0)
