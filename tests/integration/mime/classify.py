#!/usr/bin/python3
"""classify.py OURS GMIME MIME_PARTS - compare the leaf listings of
mime_parts (OURS) and gmime_parts (GMIME) message by message and explain
every disagreement by a known class, each checked against an independent
model of both decoders (written here, not taken from either parser).
Prints one line per class and, for anything unexplained, the message; exits
1 when something is unexplained.  tests/README.md lists the classes."""
import base64
import collections
import re
import subprocess
import sys

B64 = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def fnv(data):
    h = 1469598103934665603
    for c in data:
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def load(path):
    out, cur = {}, None
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n").decode("utf-8", "surrogateescape")
            if line.startswith("== "):
                cur = line[3:]
                out[cur] = []
            elif cur is not None:
                out[cur].append(line)
    return out


def qp_rfc(body, line_end_after=False):
    """RFC 2045 6.7: trailing blanks are transport padding; '=' at the end
    of a line is a soft break; a bad escape stays literal.  line_end_after:
    the body ends at a line break that belongs to the next boundary (the
    last line still ends there)."""
    out = bytearray()
    parts = re.split(rb"(\r?\n)", body)
    for i in range(0, len(parts), 2):
        line = parts[i]
        eol = parts[i + 1] if i + 1 < len(parts) else b""
        ended = eol or (line_end_after and i + 1 >= len(parts))
        if ended:
            line = line.rstrip(b" \t")
        soft = ended and line.endswith(b"=")
        if soft:
            line = line[:-1]
        j = 0
        while j < len(line):
            if line[j:j + 1] == b"=" and re.match(rb"[0-9A-Fa-f]{2}", line[j + 1:j + 3]):
                out.append(int(line[j + 1:j + 3], 16))
                j += 3
            else:
                out += line[j:j + 1]
                j += 1
        if not ended and out.endswith(b"=") and line.endswith(b"="):
            out.pop()  # a lone '=' at the very end: soft break
        if eol and not soft:
            out += eol
    return bytes(out)


def qp_gmime(body):
    """GMime 3's decoder: no blank stripping; '=' + LF or '=' CR LF is a soft
    break; anything else after '=' is copied."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != 0x3D:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        a = body[i + 1]
        if a == 0x0A:
            i += 2
            continue
        if i + 2 >= n:
            break
        b = body[i + 2]
        if chr(a) in "0123456789abcdefABCDEF" and chr(b) in "0123456789abcdefABCDEF":
            out.append(int(bytes([a, b]), 16))
        elif not (a == 0x0D and b == 0x0A):
            out += bytes([0x3D, a, b])
        i += 3
    return bytes(out)


def b64_sextets(body):
    """The base64 characters up to the padding."""
    s = bytearray()
    for c in body:
        if c == 0x3D and len(s) % 4 >= 2:
            break
        if c in B64:
            s.append(c)
    return bytes(s)


def b64_keep_tail(body):
    s = b64_sextets(body)
    if len(s) % 4 == 1:
        s = s[:-1]
    return base64.b64decode(s + b"=" * (-len(s) % 4))


def b64_drop_tail(body):
    s = b64_sextets(body)
    return base64.b64decode(s[:len(s) - len(s) % 4])


def uu_files(path):
    """The uuencoded files inside the text/plain parts of a message, found
    and decoded with Python's email package and binascii: (name, bytes)."""
    import binascii
    import email
    import email.policy
    msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.compat32)
    found = []
    for part in msg.walk():
        if part.get_content_type() != "text/plain" or part.is_multipart():
            continue
        data = part.get_payload(decode=True) or b""
        block, name = None, None
        for line in re.split(rb"\r?\n", data):
            m = re.match(rb"begin [0-7]{3,4} (.+?)\s*$", line)
            if block is None and m:
                block, name = bytearray(), m.group(1).decode("utf-8", "replace")
            elif block is not None and line.rstrip() == b"end":
                found.append((name, bytes(block)))
                block = None
            elif block is not None and line.strip() not in (b"", b"`"):
                block += binascii.a2b_uu(line.rstrip())
    return found


def uu_agree(path, lines):
    """Our "uu" lines match what Python's email and binascii find."""
    mine = [l.split("\t") for l in lines if l.startswith("uu\t")]
    theirs = uu_files(path)
    return len(mine) == len(theirs) and all(
        m[2] == name and int(m[3]) == len(data) and m[4] == fnv(data)
        for m, (name, data) in zip(mine, theirs))


def our_leaves(tool, path):
    """Leaf parts of OURS with their raw body slices, in listing order."""
    ev = subprocess.run([tool, "-e", path], capture_output=True, check=True).stdout
    raw = open(path, "rb").read()
    info, leaves = {}, []
    for line in ev.decode("latin-1").splitlines():
        m = re.match(r"begin (\d+) depth \d+ parent -?\d+ kind (\d) origin (\d) .*cte '([^']*)'"
                     r" hoff (\d+) boff (\d+) raw (\d)", line)
        if m:
            info[m.group(1)] = m.groups()[1:]
            continue
        m = re.match(r"end (\d+) body_end (\d+) .* flags (.*)", line)
        if m and info[m.group(1)][0] == "0" and info[m.group(1)][1] == "0":
            kind, origin, cte, hoff, boff, rawoff = info[m.group(1)]
            end = int(m.group(2))
            leaves.append({"cte": cte, "body": raw[int(boff):end], "flags": m.group(3),
                           "raw": rawoff == "1", "eol_after": raw[end:end + 1] in (b"\r", b"\n")})
    return leaves, raw


def explain(tool, path, ours, ref):
    """The class of one disagreement, or None."""
    if ref == ["nomessage"]:
        raw = open(path, "rb").read()
        want = ["leaf\ttext/plain\t-\t%d\t%s" % (len(raw), fnv(raw))]
        if ours == want:
            return "not a message: the whole input is one body"
        return None
    leaves, raw = our_leaves(tool, path)
    if len(ours) != len(ref):
        if any("encoded_container" in l["flags"] for l in leaves) or len(leaves) != len(ours):
            return "encoded message/rfc822 read as a message"
        return None
    why = set()
    for i, (a, b) in enumerate(zip(ours, ref)):
        if a == b:
            continue
        pa, pb = a.split("\t"), b.split("\t")
        if pa[:3] != pb[:3] or i >= len(leaves):
            return None
        body, cte = leaves[i]["body"], leaves[i]["cte"]
        if cte == "quoted-printable":
            mine, theirs = qp_rfc(body, leaves[i]["eol_after"]), qp_gmime(body)
            if (fnv(mine), fnv(theirs)) == (pa[4], pb[4]):
                why.add("quoted-printable: trailing blanks stripped (RFC 2045 6.7)")
                continue
        if cte == "base64":
            mine, theirs = b64_keep_tail(body), b64_drop_tail(body)
            if (fnv(mine), fnv(theirs)) == (pa[4], pb[4]) and len(mine) > len(theirs):
                why.add("base64 without padding: the last bytes kept")
                continue
        return None
    return "; ".join(sorted(why)) if why else None


def main():
    ours, ref, tool = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
    classes, unexplained, uu = collections.Counter(), [], 0
    example = {}
    for path, lines in ours.items():
        mine = [l for l in lines if not l.startswith("uu\t")]
        if len(mine) != len(lines):
            uu += 1
            if not uu_agree(path, lines):
                unexplained.append(path)
                continue
        theirs = ref.get(path)
        if mine == theirs:
            classes["agree"] += 1
            continue
        c = explain(tool, path, mine, theirs or [])
        if c is None:
            unexplained.append(path)
        else:
            classes[c] += 1
            example.setdefault(c, path)
    for c, n in classes.most_common():
        print("%6d  %s%s" % (n, c, "" if c == "agree" else "  (e.g. %s)" % example[c]))
    if uu:
        print("%6d  with uuencoded files inside text parts (reported by us only, checked"
              " against Python's email + binascii)" % uu)
    for path in unexplained[:20]:
        print("UNEXPLAINED %s\n  ours:   %s\n  gmime:  %s" % (path, ours[path], ref.get(path)))
    print("%d messages, %d unexplained" % (len(ours), len(unexplained)))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
