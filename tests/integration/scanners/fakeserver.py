"""fakeserver.py PORT MODE - a TCP server on 127.0.0.1 that misbehaves, for
the scanner clients' timeouts (tests/integration/scanners.sh):
  hang     accepts, reads whatever comes, never answers
  garbage  reads the request, answers bytes no scanner would send, closes
  full     listens with a full backlog and never accepts: connects hang
Prints "ready" once listening."""
import socket
import sys
import threading
import time

port, mode = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(0 if mode == "full" else 16)
held = []
if mode == "full":
    # fill the accept queue ourselves: later SYNs are dropped, connects hang
    for _ in range(2):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        held.append(c)
    time.sleep(0.2)
print("ready", flush=True)
if mode == "full":
    while True:
        time.sleep(60)


def serve(c):
    if mode == "hang":
        while c.recv(65536):
            pass
        time.sleep(3600)
    else:
        c.settimeout(2)
        try:
            c.recv(65536)
        except OSError:
            pass
        c.sendall(b"\x00\xffHELLO 12 garbage\r\nSpam: maybe ; x / y\r\n\r\n\x01\x02")
        c.close()


while True:
    conn, _ = srv.accept()
    held.append(conn)
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
