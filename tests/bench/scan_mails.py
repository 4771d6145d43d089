"""scan_mails.py OUTDIR CLAM_EXE CLAM_ZIP - write messages that carry
ClamAV's harmless test program (clamav-testfiles' clam.exe) in the ways
mail carries attachments, plain and awkward, one file per way, for
tests/bench/scan.sh's detection table: whole-message scanning
(CL_SCAN_PARSE_MAIL) against scanning the parts libpolicy's MIME parser
decodes."""
import base64
import binascii
import quopri
import sys

out, exe_path, zip_path = sys.argv[1], sys.argv[2], sys.argv[3]
exe = open(exe_path, "rb").read()
zipped = open(zip_path, "rb").read()
HEAD = ("From: a@example.test\r\nTo: b@example.test\r\nSubject: {s}\r\n"
        "Date: Wed, 02 Dec 2026 04:00:00 +0000\r\nMessage-ID: <{s}@example.test>\r\n"
        "MIME-Version: 1.0\r\n")


def b64(data, width=76):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + width] for i in range(0, len(s), width)) + "\r\n"


def qp(data):
    return quopri.encodestring(data).decode().replace("\n", "\r\n")


def uu(data, name="clam.exe", backtick=True):
    """uuencode(1)'s output: "`" for zero bits; backtick=False writes
    spaces there instead, as the oldest encoders (and Python's default) do."""
    lines = ["begin 644 " + name]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45], backtick=backtick).decode().rstrip("\n"))
    lines += ["`", "end"]
    return "\r\n".join(lines) + "\r\n"


def part(ctype, cte, body, extra=""):
    return (f"Content-Type: {ctype}\r\n" + (f"Content-Transfer-Encoding: {cte}\r\n" if cte else "")
            + extra + "\r\n" + body)


def mixed(name, parts, boundary="b1", close=True, ctype_line=None):
    s = HEAD.format(s=name)
    s += ctype_line or f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
    s += "\r\nThis is a multi-part message in MIME format.\r\n"
    for p in parts:
        s += f"--{boundary}\r\n" + p + "\r\n"
    if close:
        s += f"--{boundary}--\r\n"
    return s


TEXT = part("text/plain; charset=us-ascii", None, "Please see the attachment.\r\n")
ATT = 'Content-Disposition: attachment; filename="clam.exe"\r\n'
inner = mixed("inner", [TEXT, part("application/octet-stream", "base64", b64(exe), ATT)])
cases = {
    "base64": mixed("base64", [TEXT, part("application/octet-stream", "base64", b64(exe), ATT)]),
    "quoted-printable": mixed("qp", [TEXT, part("application/octet-stream", "quoted-printable",
                                                qp(exe), ATT)]),
    "uuencode in text": HEAD.format(s="uu") + "Content-Type: text/plain\r\n\r\nHere it is:\r\n\r\n"
    + uu(exe),
    "uuencode, spaces for zeros": HEAD.format(s="uusp") + "Content-Type: text/plain\r\n\r\n"
    + "Here it is:\r\n\r\n" + uu(exe, backtick=False),
    "x-uuencode": mixed("xuu", [TEXT, part("application/octet-stream", "x-uuencode", uu(exe), ATT)]),
    "8bit binary part": mixed("bin", [TEXT, part("application/octet-stream", "binary",
                                                 exe.decode("latin-1"), ATT)]),
    "message/rfc822": mixed("rfc822", [TEXT, part("message/rfc822", None, inner)]),
    "base64 message/rfc822": mixed("b64rfc822", [TEXT, part("message/rfc822", "base64",
                                                            b64(inner.encode()))]),
    "nested alternative": mixed("nested", [
        part('multipart/alternative; boundary="alt"', None,
             "--alt\r\n" + TEXT + "\r\n--alt\r\n" + part("text/html", None, "<p>see</p>\r\n")
             + "\r\n--alt\r\n" + part("application/octet-stream", "base64", b64(exe), ATT)
             + "\r\n--alt--\r\n")]),
    "zip attachment": mixed("zip", [TEXT, part("application/zip", "base64", b64(zipped),
                                               'Content-Disposition: attachment; filename="c.zip"\r\n')]),
    "base64, 60-column lines": mixed("b64w", [TEXT, part("application/octet-stream", "base64",
                                                         b64(exe, 60), ATT)]),
    "no final boundary": mixed("open", [TEXT, part("application/octet-stream", "base64", b64(exe), ATT)],
                               close=False),
    "folded Content-Type": mixed("fold", [TEXT, part("application/octet-stream", "base64", b64(exe), ATT)],
                                 ctype_line='Content-Type: multipart/mixed;\r\n\tboundary="b1"\r\n'),
    "RFC 2231 boundary": mixed("r2231", [TEXT, part("application/octet-stream", "base64", b64(exe), ATT)],
                               boundary="b1x", ctype_line="Content-Type: multipart/mixed;\r\n"
                               " boundary*0=\"b1\"; boundary*1=\"x\"\r\n"),
    "uppercase BASE64, no quotes": mixed("upper", [TEXT, part("application/octet-stream", "BASE64", b64(exe),
                                                              ATT)], ctype_line="Content-Type: multipart/mixed; boundary=b1\r\n"),
}
for i, (name, text) in enumerate(cases.items()):
    with open(f"{out}/{i:02d}.eml", "wb") as f:
        f.write(text.encode("latin-1"))
    with open(f"{out}/{i:02d}.name", "w") as f:
        f.write(name + "\n")
