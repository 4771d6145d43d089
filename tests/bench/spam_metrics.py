#!/usr/bin/python3
"""spam_metrics.py - ROC measures of spam filter scores.

  spam_metrics.py [--roc OUT.dat] NAME=SCORES...

SCORES holds "GROUP LABEL RANK ..." lines (spam_eval's output; the
bogofilter runs are written the same way).  For each system it prints the
spam recall at 0.1% ham false positives (the best threshold that lets
through at most 0.1% of the ham, ties counted against the filter), 1-AUC
in percent (ties count half) and the ham/spam counts.  --roc writes, per
system, a block of "FPR TPR" points for gnuplot (blocks separated by two
blank lines, in the order given).
"""
import sys


def load(path):
    ham, spam = [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 3:
                continue
            (spam if p[1] == 'spam' else ham).append(float(p[2]))
    return ham, spam


def one_minus_auc(ham, spam):
    """P(ham scores above spam) + half the ties, by a merged sweep."""
    ev = sorted([(s, 1) for s in spam] + [(h, 0) for h in ham])
    below_ham = 0  # ham strictly below the current score
    wrong = 0.0
    i = 0
    while i < len(ev):
        j = i
        nh = ns = 0
        while j < len(ev) and ev[j][0] == ev[i][0]:
            if ev[j][1]:
                ns += 1
            else:
                nh += 1
            j += 1
        # spam here: the ham above it are wrong, ties half
        above = len(ham) - below_ham - nh
        wrong += ns * (above + nh / 2.0)
        below_ham += nh
        i = j
    return wrong / (len(ham) * len(spam))


def recall_at(ham, spam, fpr):
    """Best spam recall with at most fpr of the ham at or above the
    threshold (a threshold between distinct scores)."""
    allowed = int(fpr * len(ham) + 1e-9)
    hs = sorted(ham, reverse=True)
    # threshold just above the (allowed+1)-th highest ham score
    if allowed >= len(hs):
        return 1.0
    t = hs[allowed]
    return sum(1 for s in spam if s > t) / len(spam)


def roc(ham, spam):
    pts = []
    ev = sorted([(s, 1) for s in spam] + [(h, 0) for h in ham], reverse=True)
    tp = fp = 0
    i = 0
    pts.append((0.0, 0.0))
    while i < len(ev):
        j = i
        while j < len(ev) and ev[j][0] == ev[i][0]:
            tp += ev[j][1]
            fp += 1 - ev[j][1]
            j += 1
        pts.append((fp / len(ham), tp / len(spam)))
        i = j
    return pts


def main():
    args = sys.argv[1:]
    rocout = None
    if args[:1] == ['--roc']:
        rocout = open(args[1], 'w')
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    print('%-28s %6s %6s %10s %10s %9s' % ('system', 'ham', 'spam', 'recall@.1%', 'recall@1%',
                                          '1-AUC(%)'))
    for a in args:
        name, path = a.split('=', 1)
        ham, spam = load(path)
        print('%-28s %6d %6d %9.1f%% %9.1f%% %9.4f' % (
            name, len(ham), len(spam), 100 * recall_at(ham, spam, 0.001),
            100 * recall_at(ham, spam, 0.01), 100 * one_minus_auc(ham, spam)))
        if rocout:
            rocout.write('# %s\n' % name)
            for fp, tp in roc(ham, spam):
                rocout.write('%.6f %.6f\n' % (fp, tp))
            rocout.write('\n\n')


if __name__ == '__main__':
    main()
