#!/usr/bin/env python3
"""fakemilter.py SOCKET MODE RECORD [PROTOCOL] - the filter's side of the
milter protocol, written by hand, to make policy-queue's client meet what
policy-milter never does: header edits of every kind, replies it must
refuse, a filter that closes, hangs, speaks garbage or asks to skip.
Each command it receives is appended to RECORD as one line: the command
letter and the payload as Python bytes.  PROTOCOL (a number) is what it
answers the options with: the steps it declines, HDR_LEADSPC.

MODE: record       continue everything
      edits        at end of message: add, change in place, remove, change
                   the second of two, change a header the message lacks
      reply        answer RCPT with 554 5.7.1 and a doubled %%
      accept       answer MAIL with ACCEPT
      skip         answer the first body chunk with SKIP
      progress     three PROGRESS before the end-of-message answer
      chgfrom      at end of message, ask to change the sender
      discard      answer the end of message with DISCARD
      close        close the connection at end of message
      hang         never answer the end of message
      garbage      answer the client with an unknown reply
      badoptions   answer the options with actions never offered
"""
import os
import socket
import struct
import sys

SOCK, MODE, RECORD = sys.argv[1], sys.argv[2], sys.argv[3]
PROTOCOL = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def listen():
    if SOCK.startswith("unix:"):
        path = SOCK[5:]
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
    else:
        port, host = SOCK[5:].split("@")
        s = socket.socket(socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    s.listen(16)
    return s


def read_exact(c, n):
    got = b""
    while len(got) < n:
        part = c.recv(n - len(got))
        if not part:
            return None
        got += part
    return got


def send(c, cmd, data=b""):
    c.sendall(struct.pack(">I", len(data) + 1) + cmd + data)


def serve(c):
    body_chunks = 0
    with open(RECORD, "a") as rec:
        while True:
            hdr = read_exact(c, 4)
            if hdr is None:
                return
            pkt = read_exact(c, struct.unpack(">I", hdr)[0])
            if pkt is None:
                return
            cmd, data = pkt[:1], pkt[1:]
            rec.write("%s %r\n" % (cmd.decode(), data))
            rec.flush()
            if cmd == b"O":
                actions = 0x1FF if MODE == "badoptions" else 0x11
                send(c, b"O", struct.pack(">III", 6, actions, PROTOCOL))
            elif cmd in (b"D", b"A"):
                continue
            elif cmd == b"Q":
                return
            elif cmd == b"C" and MODE == "garbage":
                send(c, b"Z")
            elif cmd == b"M" and MODE == "accept":
                send(c, b"a")
            elif cmd == b"R" and MODE == "reply":
                send(c, b"y", b"554 5.7.1 no thanks: 50%% off\0")
            elif cmd == b"B":
                body_chunks += 1
                send(c, b"s" if MODE == "skip" and body_chunks == 1 else b"c")
            elif cmd == b"E":
                if MODE == "close":
                    return
                if MODE == "hang":
                    read_exact(c, 1)
                    return
                if MODE == "chgfrom":
                    send(c, b"e", b"<other@sender.test>\0")
                if MODE == "progress":
                    for _ in range(3):
                        send(c, b"p")
                if MODE == "edits":
                    send(c, b"h", b"X-Added\0first added\0")
                    send(c, b"m", struct.pack(">I", 1) + b"Subject\0changed subject\0")
                    send(c, b"m", struct.pack(">I", 1) + b"X-Gone\0\0")
                    send(c, b"m", struct.pack(">I", 2) + b"Received\0second changed\0")
                    send(c, b"m", struct.pack(">I", 1) + b"X-Missing\0now here\n\tfolded\0")
                    send(c, b"h", b"X-Second\0second added\0")
                send(c, b"d" if MODE == "discard" else b"c")
            else:
                send(c, b"c")


srv = listen()
while True:
    conn, _ = srv.accept()
    try:
        serve(conn)
    except OSError:
        pass
    conn.close()
