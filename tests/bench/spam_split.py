#!/usr/bin/python3
"""spam_split.py - the splits the spam filter is evaluated on, as files of
"GROUP LABEL PATH" lines in date order (Date header; the mbox "From " line
when the Date header is missing or unreadable).

  spam_split.py cv HAMDIR SPAMDIR [FOLDS]   stratified folds 0..FOLDS-1
                                            (each class shuffled with a
                                            fixed seed, then dealt out)
  spam_split.py time HAMDIR SPAMDIR [FRAC]  group 0 = mail dated before D,
                                            group 1 = mail dated D or later,
                                            D = the date by which FRAC
                                            (default 0.7) of the spam came
"""
import email.utils
import os
import random
import sys
from datetime import datetime, timezone


def msg_date(path):
    """The message's date as a UTC timestamp (None when unknown)."""
    date = from_line = None
    with open(path, 'rb') as f:
        first = True
        for raw in f:
            line = raw.decode('latin-1').rstrip('\r\n')
            if first and line.startswith('From '):
                from_line = line
            first = False
            if not line:
                break
            if date is None and line[:5].lower() == 'date:':
                date = line[5:].strip()
    for cand in (date,):
        if not cand:
            continue
        try:
            d = email.utils.parsedate_to_datetime(cand)
            if d.tzinfo is None:
                d = d.replace(tzinfo=timezone.utc)
            if 1995 <= d.year <= 2010:
                return d.timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if from_line:
        try:
            parts = from_line.split()
            d = datetime.strptime(' '.join(parts[-5:]), '%a %b %d %H:%M:%S %Y')
            return d.replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    return None


def load(d, label):
    out = []
    for name in sorted(os.listdir(d)):
        if name.startswith('.'):
            continue
        p = os.path.join(d, name)
        t = msg_date(p)
        out.append([t if t is not None else 0.0, label, p])
    return out


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ('cv', 'time'):
        sys.exit(__doc__)
    ham = load(sys.argv[2], 'ham')
    spam = load(sys.argv[3], 'spam')
    rows = []
    if sys.argv[1] == 'cv':
        k = int(sys.argv[4]) if len(sys.argv) > 4 else 5
        rng = random.Random(20020822)
        for cls in (ham, spam):
            idx = list(range(len(cls)))
            rng.shuffle(idx)
            for pos, i in enumerate(idx):
                rows.append((cls[i][0], pos % k, cls[i][1], cls[i][2]))
    else:
        frac = float(sys.argv[4]) if len(sys.argv) > 4 else 0.7
        sd = sorted(r[0] for r in spam)
        cut = sd[min(len(sd) - 1, int(frac * len(sd)))]
        for r in ham + spam:
            rows.append((r[0], 0 if r[0] < cut else 1, r[1], r[2]))
        sys.stderr.write('time split at %s\n' %
                         datetime.fromtimestamp(cut, timezone.utc).isoformat())
    rows.sort(key=lambda r: (r[0], r[3]))
    for _, g, label, path in rows:
        print(g, label, path)


if __name__ == '__main__':
    main()
