#!/usr/bin/python3
"""send.py HOST:PORT SOURCE_IP SESSIONS FILE... - send each message file
over SMTP (MAIL FROM alice@example.org, RCPT user@sink.test), the files
shared out over SESSIONS parallel connections, each connection sending
one message after the other (RSET between).  Prints one line per message,
"NAME<TAB>CODE<TAB>TEXT<TAB>SECONDS<TAB>AT": NAME the file name without
.eml, CODE and TEXT the reply to the end of DATA (or to what refused
it first), SECONDS the time from MAIL to that reply, AT the clock
(time.time()) at the reply.  A connection that breaks is reconnected.
"""
import os
import smtplib
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
source = sys.argv[2]
sessions = int(sys.argv[3])
files = sys.argv[4:]
lock = threading.Lock()
out = []


def connect():
    s = smtplib.SMTP(host, int(port), local_hostname="client.test", timeout=120,
                     source_address=(source, 0))
    s.ehlo()
    return s


def one(s, path):
    with open(path, "rb") as f:
        data = f.read()
    t0 = time.time()
    code, text = s.mail("alice@example.org")
    if code == 250:
        code, text = s.rcpt("user@sink.test")
    if code in (250, 251):
        code, text = s.data(data)
    else:
        s.rset()
    return code, text.decode(errors="replace").replace("\n", " "), time.time() - t0


def worker(paths):
    s = connect()
    for p in paths:
        name = os.path.basename(p)[:-4] if p.endswith(".eml") else os.path.basename(p)
        try:
            code, text, dt = one(s, p)
        except (smtplib.SMTPServerDisconnected, ConnectionError, OSError) as e:
            code, text, dt = 0, "connection lost: %s" % e, 0.0
            s = connect()
        with lock:
            out.append("%s\t%d\t%s\t%.4f\t%.4f" % (name, code, text, dt, time.time()))
            sys.stdout.write(out[-1] + "\n")
            sys.stdout.flush()
    try:
        s.quit()
    except Exception:
        pass


threads = [threading.Thread(target=worker, args=(files[i::sessions],)) for i in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
