#!/usr/bin/python3
"""compare.py METRICS_PAGE DAEMON_LOG [STATS_TEXT] - check a /metrics page
against the decision lines of the same run, line by line, and (optionally)
against `policyctl stats` of that log.  Prints ok / not ok lines.

The page must be well formed (HELP and TYPE before the samples of a
family, a number on every sample line, histograms cumulative with _count
equal to the +Inf bucket); every policy_decisions_total series must equal
the number of decision lines with its stage, layer, action and code, and
no decision line may be missing from the page."""
import collections
import re
import shlex
import sys

failed = 0


def check(name, cond, detail=""):
    global failed
    if cond:
        print("ok - " + name)
    else:
        failed += 1
        print("not ok - " + name)
        if detail:
            print("  " + str(detail)[:600])


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|\+Inf|NaN)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_page(text):
    families, samples, problems = {}, [], []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            families.setdefault(parts[2], {})[parts[1]] = parts[3] if len(parts) > 3 else ""
            continue
        if not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append(line)
            continue
        name, labels = m.group(1), dict(LABEL.findall(m.group(3) or ""))
        base = re.sub(r'_(bucket|sum|count)$', '', name)
        fam = name if name in families else base
        if fam not in families or "TYPE" not in families[fam] or "HELP" not in families[fam]:
            problems.append("no HELP/TYPE before " + line)
        samples.append((name, labels, float(m.group(4))))
    return families, samples, problems


def decisions_of_log(path):
    c = collections.Counter()
    for line in open(path, errors="replace"):
        i = line.find("libpolicy: stage=")
        if i < 0:
            continue
        kv = {}
        for tok in shlex.split(line[i + 11:].strip()):
            k, _, v = tok.partition("=")
            kv[k] = v
        c[(kv.get("stage"), kv.get("layer", ""), kv.get("action"), kv.get("code", ""))] += 1
    return c


def main():
    page = open(sys.argv[1]).read()
    families, samples, problems = parse_page(page)
    check("the page is in the exposition format (HELP and TYPE, one number a sample)",
          not problems, problems[:3])
    for fam in ("policy_decisions_total", "policy_checks_total", "policy_check_duration_seconds",
                "policy_errors_total", "policy_messages_total", "policy_sessions_total",
                "policy_message_bytes_total", "policy_reloads_total",
                "policy_reload_failures_total"):
        check("the page documents " + fam, fam in families and families[fam].get("HELP"))
    # histograms: cumulative, _count = +Inf
    buckets = collections.defaultdict(list)
    counts = {}
    for name, labels, v in samples:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        if name == "policy_check_duration_seconds_bucket":
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            buckets[key].append((le, v))
        elif name == "policy_check_duration_seconds_count":
            counts[key] = v
    bad = [k for k, b in buckets.items()
           if [v for _, v in sorted(b)] != sorted(v for _, v in b) or sorted(b)[-1][1] != counts.get(k)]
    check("check-duration histograms are cumulative, _count = +Inf (%d series)" % len(buckets),
          buckets and not bad, bad[:3])
    checks = collections.Counter()
    for name, labels, v in samples:
        if name == "policy_checks_total":
            checks[(("layer", labels["layer"]), ("stage", labels["stage"]))] += v
    bad = [k for k in buckets if checks.get(k) != counts.get(k)]
    check("every check is in its histogram (checks_total = _count per layer and stage)",
          not bad, bad[:3])

    got = collections.Counter()
    for name, labels, v in samples:
        if name == "policy_decisions_total":
            got[(labels["stage"], labels["layer"], labels["action"], labels["code"])] += int(v)
    want = decisions_of_log(sys.argv[2])
    diff = {k: (want.get(k, 0), got.get(k, 0)) for k in set(want) | set(got)
            if want.get(k, 0) != got.get(k, 0)}
    check("policy_decisions_total equals the decision lines, series by series "
          "(%d lines, %d series)" % (sum(want.values()), len(want)), not diff and want, diff)
    accepted = sum(v for (st, _, a, _), v in want.items() if st == "eom" and a == "accept")
    msg = sum(v for name, labels, v in samples
              if name == "policy_messages_total" and labels.get("action") == "accept")
    check("policy_messages_total{action=accept} = the eom accept lines (%d)" % accepted,
          msg == accepted, (msg, accepted))

    if len(sys.argv) > 3:  # policyctl stats of the same log
        text = open(sys.argv[3]).read()
        m = re.search(r'^ *(\d+)  decisions$', text, re.M)
        check("policyctl stats counts the same decisions as /metrics",
              m and int(m.group(1)) == sum(got.values()), (m and m.group(1), sum(got.values())))
        m = re.search(r'^ *(\d+)  messages accepted$', text, re.M)
        check("policyctl stats counts the same accepted messages as /metrics",
              m and int(m.group(1)) == msg, (m and m.group(1), msg))
        per_layer = collections.Counter()
        for (st, layer, a, code), v in got.items():
            per_layer[(layer or "-", a)] += v
        sect = text.split("Per layer and action")[1].split("\n\n")[0].splitlines()[2:]
        cols = sect[0].split()
        table = {}
        for row in sect[1:]:
            f = row.split()
            for c, x in zip(cols[2:], f[2:]):
                table[(f[0], c)] = int(x)
        bad = {k: (v, table.get(k)) for k, v in per_layer.items() if table.get(k) != v}
        check("policyctl stats per layer and action equals /metrics", not bad and table, bad)
    return 1 if failed else 0


sys.exit(main())
