#!/usr/bin/python3
"""spam_strip.py SPLIT OUTDIR - copies of the split's messages with only the
header fields the built-in filter reads (the others tell which collection
a message came from: Received, List-*, Sender, Delivered-To, Message-ID,
Date...), and the [tag] a list puts in the Subject removed when the
message carries list headers.  Bodies are copied as they are.  Copies go
to OUTDIR/FOLDER/N-NAME (FOLDER: the one the message came from).  Prints
the split again with the copies' paths, for a fair second bogofilter run.
"""
import os
import re
import sys

KEEP = {'subject', 'from', 'to', 'cc', 'reply-to', 'mime-version', 'x-mailer', 'user-agent',
        'x-mimeole', 'x-newsreader', 'x-priority', 'x-msmail-priority', 'importance',
        'organization'}
LIST = {'list-id', 'list-post', 'list-unsubscribe', 'list-help', 'mailing-list',
        'x-mailing-list', 'x-beenthere', 'x-mailman-version'}
TAG = re.compile(rb'^((?:\s*(?:re|fwd?):)*\s*)\[[^\]]{0,40}\]', re.I)


def strip(data):
    head, sep, body = data.partition(b'\n\n')
    fields = []
    for line in head.split(b'\n'):
        if line[:1] in (b' ', b'\t') and fields:
            fields[-1] += b'\n' + line
        else:
            fields.append(line)
    names = [f.split(b':', 1)[0].strip().lower().decode('latin-1') for f in fields]
    listmail = any(n in LIST for n in names)
    out = []
    for f, n in zip(fields, names):
        if n.startswith('content-') or n in KEEP:
            if n == 'subject' and listmail:
                v = f[len('subject:'):]
                while True:
                    v2 = TAG.sub(rb'\1', v, count=1)
                    if v2 == v:
                        break
                    v = v2
                f = b'Subject:' + v
            out.append(f)
    return b'\n'.join(out) + sep + body


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        for i, line in enumerate(f):
            g, label, path = line.split()
            # OUTDIR/FOLDER/N-NAME: the copy keeps the folder it came from
            folder = os.path.join(sys.argv[2], os.path.basename(os.path.dirname(path)))
            os.makedirs(folder, exist_ok=True)
            dst = os.path.join(folder, '%05d-%s' % (i, os.path.basename(path)))
            with open(path, 'rb') as s, open(dst, 'wb') as d:
                d.write(strip(s.read()))
            print(g, label, dst)


if __name__ == '__main__':
    main()
