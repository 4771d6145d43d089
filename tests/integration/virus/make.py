#!/usr/bin/python3
"""make.py DIR [TESTFILES_DIR] - the virus test messages: every file of
clamav-testfiles carried by mail in five ways, each with a clean twin that
differs only in the payload, and EICAR.  Writes DIR/NAME.eml and
DIR/cases, one line per message: "NAME<TAB>VERDICT<TAB>SIGNATURE" (VERDICT
infected or clean, SIGNATURE the start of the expected name or "-").

The five ways:
  b64   a base64 attachment (what mail clients write)
  qp    a quoted-printable attachment, every byte that is not printable
        written =XX, lines cut at 76 with soft breaks (ClamAV's own mail
        parser does not decode it byte for byte)
  uu    a uuencoded file inside a text/plain body, written the old way
        (spaces for zero bits, as Python's binascii and old mailers do)
  zip   inside a zip archive, base64
  fwd   inside a forwarded message (message/rfc822 holding a base64
        attachment)
The clean twin carries, under the same name and in the same way, a payload
as long as the original made of harmless text.  Every message starts with
"From: alice@example.org" and has Message-ID <NAME@example.org>.
EICAR is built at run time from two halves.
"""
import base64
import binascii
import io
import os
import sys
import zipfile

OUT = sys.argv[1]
TF = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/clamav-testfiles"
os.makedirs(OUT, exist_ok=True)
cases = []

HEAD = ("From: alice@example.org\nTo: user@sink.test\nSubject: {subject}\n"
        "Date: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <{name}@example.org>\n"
        "MIME-Version: 1.0\n")
TEXT = "Hello,\nplease find the file attached.\nRegards\n"


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def qp(data):
    """Quoted-printable that decodes back byte for byte: every byte that is
    not printable ASCII (and "=", and blanks) as =XX, soft breaks at 76."""
    out, line = [], ""
    for b in data:
        tok = chr(b) if 33 <= b <= 126 and b != 61 else "=%02X" % b
        if len(line) + len(tok) > 75:
            out.append(line + "=")
            line = ""
        line += tok
    out.append(line)
    return "\n".join(out) + "\n"


def uu(name, data):
    s = "begin 644 %s\n" % name
    for i in range(0, len(data), 45):
        s += binascii.b2a_uu(data[i:i + 45]).decode()  # spaces for zero bits
    return s + binascii.b2a_uu(b"").decode() + "end\n"


def zipped(name, data):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return bio.getvalue()


def part(cte, body, fname, ctype="application/octet-stream"):
    return ('Content-Type: %s; name="%s"\nContent-Transfer-Encoding: %s\n'
            'Content-Disposition: attachment; filename="%s"\n\n%s' % (ctype, fname, cte, fname, body))


def mixed(name, att, boundary="=_b1"):
    return (HEAD.format(subject=name, name=name)
            + 'Content-Type: multipart/mixed; boundary="%s"\n\n' % boundary
            + "This is a multi-part message in MIME format.\n"
            + "--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s" % (boundary, TEXT)
            + "--%s\n%s--%s--\n" % (boundary, att, boundary))


def message(way, name, fname, data):
    if way == "b64":
        return mixed(name, part("base64", b64(data), fname))
    if way == "qp":
        return mixed(name, part("quoted-printable", qp(data), fname))
    if way == "uu":
        return (HEAD.format(subject=name, name=name) + "Content-Type: text/plain\n\n"
                + TEXT + "\n" + uu(fname, data))
    if way == "zip":
        return mixed(name, part("base64", b64(zipped(fname, data)), fname + ".zip", "application/zip"))
    if way == "fwd":
        inner = mixed(name + ".inner", part("base64", b64(data), fname), boundary="=_inner")
        return mixed(name, "Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + inner)
    raise ValueError(way)


def harmless(n):
    filler = b"The minutes of the meeting are attached; nothing to see here.\n"
    return (filler * (n // len(filler) + 1))[:n]


def case(name, verdict, sig, text):
    with open(os.path.join(OUT, name + ".eml"), "w", newline="\n") as f:
        f.write(text)
    cases.append((name, verdict, sig))


for fname in sorted(os.listdir(TF)):
    with open(os.path.join(TF, fname), "rb") as f:
        data = f.read()
    key = fname.replace("_", "-")
    for way in ("b64", "qp", "uu", "zip", "fwd"):
        case("%s.%s" % (way, key), "infected", "ClamTest.", message(way, "%s.%s" % (way, key), fname, data))
        case("clean-%s.%s" % (way, key), "clean", "-",
             message(way, "clean-%s.%s" % (way, key), fname, harmless(len(data))))

EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
case("eicar.b64", "infected", "Test.Eicar", message("b64", "eicar.b64", "eicar.com", EICAR.encode()))
case("eicar.text", "infected", "Test.Eicar",
     HEAD.format(subject="eicar.text", name="eicar.text") + "Content-Type: text/plain\n\n" + EICAR + "\n")
case("clean.text", "clean", "-",
     HEAD.format(subject="clean.text", name="clean.text") + "Content-Type: text/plain\n\n" + TEXT)

with open(os.path.join(OUT, "cases"), "w") as f:
    for c in cases:
        f.write("\t".join(c) + "\n")
