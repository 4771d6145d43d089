#!/usr/bin/python3
"""check.py RENDERED.json SUMMARY.txt PAGE_URL - what Chromium drew against
the text summary of the same `policyctl stats` run: the page fetched
nothing and raised no error, and every bar holds (and is drawn at the size
of) the number the summary prints.  Prints ok / not ok lines."""
import json
import re
import sys

r = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
url = sys.argv[3]
failed = 0


def check(name, cond, detail=""):
    global failed
    print(("ok - " if cond else "not ok - ") + name)
    if not cond:
        failed += 1
        if detail:
            print("  " + str(detail)[:600])


def section(title):
    """the lines of a summary table: header first, rows after."""
    part = text.split("\n" + title)[1].split("\n\n")[0].splitlines()
    return [l for l in part[2:] if l.strip()]


def proportional(bars, size):
    """every bar's size / count is the same (within a pixel)."""
    bars = [b for b in bars if int(b["count"]) > 0]
    if not bars:
        return False
    k = max(bars, key=lambda b: int(b["count"]))
    unit = b_size = k[size] / int(k["count"])
    return all(abs(b[size] - unit * int(b["count"])) < 1.0 for b in bars)


check("the page fetched nothing but itself", r["requests"] == [url], r["requests"])
check("the page raised no error", not r["errors"], r["errors"])
check("the page runs no script and draws SVG charts", r["scripts"] == 0 and r["svgs"] >= 3,
      (r["scripts"], r["svgs"]))
check("the page holds the text summary word for word",
      r["summary"].strip() == text.strip())

totals = {k: int(re.search(r"^ *(\d+)  " + w + "$", text, re.M).group(1))
          for k, w in (("decisions", "decisions"), ("accepted", "messages accepted"),
                       ("refusals", "refusals"))}
check("the totals shown are the summary's %s" % totals, r["totals"] == totals, r["totals"])

# decisions per layer per hour
rows = section("Per-hour volume")
cols = rows[0].split()
table = {}
for row in rows[1:]:
    f = row.split()
    hour = f[0] + " " + f[1]
    for c, v in zip(cols[4:], f[5:]):
        table[(hour, c)] = int(v)
drawn = {(b["hour"], b["layer"]): int(b["count"]) for b in r["hour_bars"]}
want = {k: v for k, v in table.items() if v}
check("chart 'decisions per layer, per hour': %d bars, each the summary's number" % len(drawn),
      drawn == want and len(drawn) > 0,
      {k: (want.get(k), drawn.get(k)) for k in set(want) | set(drawn) if want.get(k) != drawn.get(k)})
check("... bar heights proportional to the numbers", proportional(r["hour_bars"], "height"))

# each layer's share of the refusals
rows = section("Per layer and action")
cols = rows[0].split()
refusals = {}
for row in rows[1:]:
    f = row.split()
    n = sum(int(v) for c, v in zip(cols[2:], f[2:]) if c in ("reject", "tempfail", "disconnect"))
    if n:
        refusals[f[0]] = n
drawn = {b["layer"]: int(b["count"]) for b in r["share_bars"]}
check("chart 'share of each layer in refusals' holds the summary's refusals per layer %s" % refusals,
      drawn == refusals and refusals, drawn)
check("... bar widths proportional to the numbers", proportional(r["share_bars"], "width"))
total = sum(refusals.values())
labels = sorted(r["share_labels"])
expect = sorted("%d (%.1f%%)" % (n, 100.0 * n / total) for n in refusals.values())
check("... labelled with count and share", labels == expect, (labels, expect))

# duration histograms
rows = section("Stage durations")
cols = rows[0].split()
hist = {}
for row in rows[1:]:
    f = row.split()
    for c, v in zip(cols[4:], f[4:]):
        hist[(f[0], c)] = int(v)
drawn = {(b["histo"], b["le"]): int(b["count"]) for b in r["histo_bars"]}
bad = {k: (hist.get(k, 0), v) for k, v in drawn.items() if hist.get(k, 0) != v}
bad.update({k: (v, drawn.get(k)) for k, v in hist.items() if drawn.get(k) != v})
check("duration histograms: every bucket the summary's number (%d bars)" % len(drawn),
      not bad and drawn, bad)
ok = all(proportional([b for b in r["histo_bars"] if b["histo"] == h], "height")
         for h in {b["histo"] for b in r["histo_bars"]})
check("... bar heights proportional within each histogram", ok)
sys.exit(1 if failed else 0)
