#!/usr/bin/python3
"""make.py DIR - write the attachment test messages into DIR, one .eml each,
and DIR/cases: one line per message, "NAME<TAB>VERDICT<TAB>TEXT", VERDICT
accept or reject, TEXT a part of the expected reply (or "-").

Each message carries one trick mail filters have been fooled by: names
hidden by encodings, case, dots and blanks; programs under harmless names
or inside archives (nested, encrypted, tar.gz, 7z); uuencode in a text
part; a forwarded message; a quoted-printable program; broken MIME
structure.  Archives are made with the real zip/7z/tar tools.  The payloads
are built here: a PE header, /bin/true (ELF), a #! script.
"""
import base64
import os
import quopri
import shutil
import subprocess
import sys
import tempfile

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
W = tempfile.mkdtemp(prefix="attach-make.")
cases = []

# ------------------------------------------------------------ payloads


def pe_bytes():
    """A small Windows PE: MZ, e_lfanew at 0x3c pointing at "PE\\0\\0"."""
    b = bytearray(512)
    b[0:2] = b"MZ"
    b[0x3C:0x40] = (0x80).to_bytes(4, "little")
    b[0x80:0x84] = b"PE\0\0"
    b[0x84:0x86] = (0x14C).to_bytes(2, "little")  # i386
    b[0x4E:0x4E + 39] = b"This program cannot be run in DOS mode."
    return bytes(b)


PE = pe_bytes()
with open("/bin/true", "rb") as f:
    ELF = f.read()
SCRIPT = b"#!/bin/sh\necho owned\n"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = b"Hello,\nplease find the minutes of our meeting below.\nRegards\n"
# an OLE2 compound file whose directory names a VBA project, as Word 97 macros do
OLE_MACRO = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
             + "Root Entry".encode("utf-16le") + bytes(54)
             + "_VBA_PROJECT".encode("utf-16le") + bytes(200))


def tool(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def archive(kind, files, password=None, inner=None):
    """An archive holding files (name -> bytes), made by the real tool."""
    d = tempfile.mkdtemp(dir=W)
    for name, data in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    names = sorted(files)
    out = os.path.join(W, "out." + kind.replace("+", "."))
    if os.path.exists(out):
        os.unlink(out)
    if kind == "zip":
        tool(["zip", "-q", "-X"] + (["-P", password] if password else []) + [out] + names, d)
    elif kind == "7z":
        tool(["7z", "a", "-bd"] + (["-p" + password, "-mhe=on"] if password else [])
             + [out] + names, d)
    elif kind == "tar+gz":
        tool(["tar", "czf", out] + names, d)
    with open(out, "rb") as f:
        data = f.read()
    shutil.rmtree(d)
    os.unlink(out)
    return data


# ------------------------------------------------------------ messages

HEAD = ("From: alice@example.org\nTo: user@local.example\nSubject: {subject}\n"
        "Date: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <{name}@example.org>\n"
        "MIME-Version: 1.0\n")


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def mixed(name, parts, boundary="=_b1", final=True):
    """A multipart/mixed message; parts: (headers, body) text pairs."""
    m = HEAD.format(subject=name, name=name)
    m += 'Content-Type: multipart/mixed; boundary="%s"\n\n' % boundary
    m += "This is a multi-part message in MIME format.\n"
    m += "--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s" % (boundary, TEXT.decode())
    for headers, body in parts:
        m += "--%s\n%s\n%s" % (boundary, headers, body)
    if final:
        m += "--%s--\n" % boundary
    return m


def attach(filename_header, data, ctype="application/octet-stream", extra=""):
    """An attachment part: base64 of data."""
    h = "Content-Type: %s%s\nContent-Transfer-Encoding: base64\n%s" % (ctype, extra, filename_header)
    return (h, b64(data))


def disp(name):
    return 'Content-Disposition: attachment; filename="%s"\n' % name


def case(name, verdict, text, message, conf="default"):
    with open(os.path.join(OUT, name + ".eml"), "w", newline="\n") as f:
        f.write(message)
    cases.append((name, verdict, text, conf))


# clean mail: accepted, and handed on byte for byte
case("clean_text", "accept", "-",
     HEAD.format(subject="minutes", name="clean_text") + "Content-Type: text/plain\n\n" + TEXT.decode())
case("clean_pdf", "accept", "-", mixed("clean_pdf", [attach(disp("report.pdf"), PDF, "application/pdf")]))
case("clean_zip", "accept", "-",
     mixed("clean_zip", [attach(disp("docs.zip"), archive("zip", {"minutes.txt": TEXT, "report.pdf": PDF}),
                                "application/zip")]))

# names
case("ext_exe", "reject", "attachment type not allowed: invoice.exe",
     mixed("ext_exe", [attach(disp("invoice.exe"), PE)]))
case("ext_case", "reject", "INVOICE.EXE", mixed("ext_case", [attach(disp("INVOICE.EXE"), PE)]))
case("ext_double", "reject", "invoice.pdf.exe",
     mixed("ext_double", [attach(disp("invoice.pdf.exe"), PDF)]))
case("ext_trailing_dot", "reject", "invoice.scr.",
     mixed("ext_trailing_dot", [attach(disp("invoice.scr."), TEXT)]))
case("ext_trailing_blank", "reject", "invoice.vbs",
     mixed("ext_trailing_blank", [attach(disp("invoice.vbs  "), TEXT)]))
case("ext_rfc2047", "reject", "rechnung.exe",
     mixed("ext_rfc2047", [attach('Content-Disposition: attachment; filename="=?UTF-8?B?%s?="\n'
                                  % base64.b64encode(b"rechnung.exe").decode(), TEXT)]))
case("ext_rfc2231", "reject", "invoice.js",
     mixed("ext_rfc2231", [attach("Content-Disposition: attachment; filename*=UTF-8''invoice%2Ejs\n", TEXT)]))
case("ext_rfc2231_continued", "reject", "statement.hta",
     mixed("ext_rfc2231_continued", [attach('Content-Disposition: attachment;\n filename*0="state";\n'
                                            ' filename*1="ment.hta"\n', TEXT)]))
case("ext_name_param", "reject", "setup.msi",
     mixed("ext_name_param", [attach("", TEXT, "application/octet-stream", '; name="setup.msi"')]))
case("ext_clsid", "reject", "{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}",
     mixed("ext_clsid", [attach(disp("readme.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}"), TEXT)]))
case("ext_lnk", "reject", "photo.lnk", mixed("ext_lnk", [attach(disp("photo.lnk"), TEXT)]))

# declared content type
case("type_msdownload", "reject", "application/x-msdownload",
     mixed("type_msdownload", [attach(disp("data.bin"), TEXT, "application/x-msdownload")]))

# what the bytes are, whatever the name says
case("content_pe_as_pdf", "reject", "report.pdf (windows-executable)",
     mixed("content_pe_as_pdf", [attach(disp("report.pdf"), PE, "application/pdf")]))
case("content_elf_as_txt", "reject", "notes.txt (elf-executable)",
     mixed("content_elf_as_txt", [attach(disp("notes.txt"), ELF, "text/plain")]))
case("content_script", "reject", "readme (script)",
     mixed("content_script", [attach(disp("readme"), SCRIPT)]))
case("content_unnamed_pe", "reject", "unnamed part (windows-executable)",
     mixed("content_unnamed_pe", [attach("", PE)]))
q = quopri.encodestring(PE).decode()
case("content_qp_pe", "reject", "scan.pdf (windows-executable)",
     mixed("content_qp_pe", [("Content-Type: application/pdf\nContent-Transfer-Encoding: quoted-printable\n"
                              + disp("scan.pdf"), q + "\n")]))

# archives
case("zip_exe", "reject", "docs.zip/setup.exe",
     mixed("zip_exe", [attach(disp("docs.zip"), archive("zip", {"readme.txt": TEXT, "setup.exe": PE}),
                              "application/zip")]))
case("zip_renamed_pe", "reject", "photos.zip/holiday.jpg (windows-executable)",
     mixed("zip_renamed_pe", [attach(disp("photos.zip"), archive("zip", {"holiday.jpg": PE}), "application/zip")]))
inner = archive("zip", {"setup.exe": PE})
case("zip_nested", "reject", "outer.zip/setup.exe",
     mixed("zip_nested", [attach(disp("outer.zip"), archive("zip", {"inner.zip": inner}), "application/zip")]))
case("targz_exe", "reject", "backup.tar.gz/tool.exe",
     mixed("targz_exe", [attach(disp("backup.tar.gz"), archive("tar+gz", {"tool.exe": PE}),
                                "application/gzip")]))
case("sevenzip_elf", "reject", "bundle.7z/run.bin (elf-executable)",
     mixed("sevenzip_elf", [attach(disp("bundle.7z"), archive("7z", {"run.bin": ELF}),
                                   "application/x-7z-compressed")]))
case("zip_encrypted_exe_name", "reject", "locked.zip/payment.exe",
     mixed("zip_encrypted_exe_name", [attach(disp("locked.zip"),
                                             archive("zip", {"payment.exe": PE}, password="infected"),
                                             "application/zip")]))
enc_zip = archive("zip", {"secret.txt": TEXT}, password="secret")
case("zip_encrypted_plain", "accept", "-",
     mixed("zip_encrypted_plain", [attach(disp("secret.zip"), enc_zip, "application/zip")]))
case("zip_encrypted_refused", "reject", "encrypted archive not allowed: secret.zip",
     mixed("zip_encrypted_refused", [attach(disp("secret.zip"), enc_zip, "application/zip")]),
     conf="strict")
enc_7z = archive("7z", {"a.exe": PE}, password="secret")
case("sevenzip_encrypted_headers", "accept", "-",
     mixed("sevenzip_encrypted_headers", [attach(disp("hidden.7z"), enc_7z, "application/x-7z-compressed")]))
case("sevenzip_encrypted_refused", "reject", "encrypted archive not allowed: hidden.7z",
     mixed("sevenzip_encrypted_refused", [attach(disp("hidden.7z"), enc_7z, "application/x-7z-compressed")]),
     conf="strict")

# MIME structure tricks
uu = subprocess.run(["/usr/bin/python3", "-c",
                     "import binascii,sys\n"
                     "d=sys.stdin.buffer.read()\n"
                     "sys.stdout.write('begin 644 update.exe\\n')\n"
                     "[sys.stdout.write(binascii.b2a_uu(d[i:i+45]).decode()) for i in range(0,len(d),45)]\n"
                     "sys.stdout.write('`\\nend\\n')"], input=PE, capture_output=True).stdout.decode()
case("uuencode_in_text", "reject", "update.exe",
     HEAD.format(subject="uu", name="uuencode_in_text") + "Content-Type: text/plain\n\nsee the file:\n\n" + uu)
fwd = HEAD.format(subject="inner", name="inner") + 'Content-Type: multipart/mixed; boundary="in"\n\n' \
    + "--in\nContent-Type: text/plain\n\nhi\n" + "--in\n" + attach(disp("inner.exe"), PE)[0] + "\n" \
    + attach(disp("inner.exe"), PE)[1] + "--in--\n"
case("forwarded_rfc822", "reject", "inner.exe",
     mixed("forwarded_rfc822", [("Content-Type: message/rfc822\nContent-Disposition: inline\n", fwd)]))
case("forwarded_rfc822_base64", "reject", "inner.exe",
     mixed("forwarded_rfc822_base64", [("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n",
                                        b64(fwd.encode()))]))
case("no_final_boundary", "reject", "last.exe",
     mixed("no_final_boundary", [attach(disp("last.exe"), PE)], final=False))
m = HEAD.format(subject="prefix", name="boundary_prefix") + 'Content-Type: multipart/mixed; boundary="abc"\n\n' \
    + "--abc\nContent-Type: multipart/mixed; boundary=\"abcd\"\n\n" \
    + "--abcd\nContent-Type: text/plain\n\nx\n--abcd\n" + attach(disp("deep.exe"), PE)[0] + "\n" \
    + attach(disp("deep.exe"), PE)[1] + "--abcd--\n--abc--\n"
case("boundary_prefix", "reject", "deep.exe", m)
case("boundary_whitespace", "reject", "spaced.exe",
     HEAD.format(subject="ws", name="boundary_whitespace") + 'Content-Type: multipart/mixed; boundary="zz"\n\n'
     + "--zz   \nContent-Type: text/plain\n\nx\n--zz \t\n" + attach(disp("spaced.exe"), PE)[0] + "\n"
     + attach(disp("spaced.exe"), PE)[1] + "--zz--\n")

# Office macros (macros = yes)
case("macro_ole2", "reject", "report.doc (office document with macros)",
     mixed("macro_ole2", [attach(disp("report.doc"), OLE_MACRO, "application/msword")]), conf="strict")
docm = archive("zip", {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>",
                       "word/vbaProject.bin": OLE_MACRO})
case("macro_ooxml", "reject", "offer.docm (office document with macros)",
     mixed("macro_ooxml", [attach(disp("offer.docm"), docm,
                                  "application/vnd.ms-word.document.macroEnabled.12")]), conf="strict")
case("macro_off_by_default", "accept", "-",
     mixed("macro_off_by_default", [attach(disp("report.doc"), OLE_MACRO, "application/msword")]))

# too many parts to check: accepted by default, refused with unreadable = reject
many = [("Content-Type: text/plain\n", "part %d\n" % i) for i in range(1100)]
case("too_many_parts", "reject", "attachment cannot be checked: too many parts", mixed("too_many_parts", many),
     conf="strict")

with open(os.path.join(OUT, "cases"), "w") as f:
    for name, verdict, text, conf in cases:
        f.write("%s\t%s\t%s\t%s\n" % (name, verdict, text, conf))
with open(os.path.join(OUT, "pe.bin"), "wb") as f:
    f.write(PE)
shutil.rmtree(W)
