#!/bin/bash
# spam_eval.sh BUILD_DIR [--runs N] [--roc FILE.png] [--holdout]
#
# The built-in spam filter side by side with bogofilter on the SpamAssassin
# public corpus (scripts/fetch-corpus.sh), one core, CPU time:
#   - stratified 5-fold cross-validation over easy-ham-1 + spam-1;
#   - a time split of the same two folders by Date header: train on the
#     mail dated before the day 70% of the spam had come, test on the rest;
# each for the built-in filter (tests/tools/spam_eval, its defaults),
# bogofilter as people run it (raw messages, -C: built-in defaults) and
# bogofilter on copies holding only the header fields the built-in filter
# reads (tests/bench/spam_strip.py: without the headers that name the
# collection a message came from).  Prints spam recall at 0.1% and 1% ham
# false positives, 1-AUC, and the training and classification speeds (the
# best of --runs runs, default 3; parse and tokenize included for both).
# --roc writes the ROC curves of both evaluations as a PNG (gnuplot).
# --holdout adds, after everything else, the independent measurement: all
# of easy-ham-1 + spam-1 trained, easy-ham-2, hard-ham-1 and spam-2
# classified.  Those three folders are never used for any decision.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: spam_eval.sh BUILD_DIR [--runs N] [--roc FILE.png] [--holdout]}
shift
RUNS=3 ROC= HOLDOUT=
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --roc) ROC=$2; shift 2 ;;
    --holdout) HOLDOUT=1; shift ;;
    *) echo "spam_eval.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
PY=/usr/bin/python3
EVAL=$BUILD/tests/tools/spam_eval
SA=$(sh scripts/fetch-corpus.sh --where)/spam-assassin
if [ ! -f "$SA/.complete" ]; then
    echo "skipped: corpus not fetched (scripts/fetch-corpus.sh)"
    exit 0
fi
command -v bogofilter >/dev/null || { echo "spam_eval.sh: bogofilter missing (apt-get install bogofilter)" >&2; exit 1; }
[ -x "$EVAL" ] || { echo "spam_eval.sh: $EVAL missing (build with -Dtests=true)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/spam_eval.XXXXXX")
trap 'rm -rf "$T"' EXIT

# ours SPLIT WHICH OUT - the built-in filter; WHICH is --cv or a test group;
# prints "TRAIN_N TRAIN_S CLASS_N CLASS_S" (CPU seconds, best of RUNS)
ours() {
    local split=$1 which=$2 out=$3 r best=
    for r in $(seq "$RUNS"); do
        if [ "$which" = cv ]; then
            "$EVAL" run "$split" --cv > "$out" 2> "$T/ours.err"
        else
            "$EVAL" run "$split" --test "$which" > "$out" 2> "$T/ours.err"
        fi
        best=$(sed -n 's/^train: \([0-9]*\) messages in \([0-9.]*\) s.*classify: \([0-9]*\) messages in \([0-9.]*\) s.*/\1 \2 \3 \4/p' "$T/ours.err" |
            awk -v b="$best" '{ if (b == "") { print; exit } split(b, o, " ");
                print $1, ($2 < o[2] ? $2 : o[2]), $3, ($4 < o[4] ? $4 : o[4]) }')
    done
    echo "$best"
}

# cpu FILE - user+sys seconds that /usr/bin/time -f "%U %S" wrote
cpu() { tail -n1 "$1" | awk '{ print $1 + $2 }'; }

# bogo SPLIT WHICH OUT - bogofilter, one database per test group, trained
# with -n/-s -b on the other groups, classified with -b -TT (16 digits);
# prints "TRAIN_N TRAIN_S CLASS_N CLASS_S" like ours()
bogo() {
    local split=$1 which=$2 out=$3 r g groups best= tr tc ntr ncl
    groups=$(awk '{ print $1 }' "$split" | sort -u)
    [ "$which" != cv ] && groups=$which
    for r in $(seq "$RUNS"); do
        : > "$out"
        tr=0 tc=0 ntr=0 ncl=0
        for g in $groups; do
            rm -rf "$T/db"
            mkdir "$T/db"
            awk -v g="$g" '$1 != g && $2 == "ham" { print $3 }' "$split" > "$T/h"
            awk -v g="$g" '$1 != g && $2 == "spam" { print $3 }' "$split" > "$T/s"
            awk -v g="$g" '$1 == g { print $3 }' "$split" > "$T/t"
            /usr/bin/time -f "%U %S" -o "$T/t1" bogofilter -C -d "$T/db" -n -b < "$T/h"
            /usr/bin/time -f "%U %S" -o "$T/t2" bogofilter -C -d "$T/db" -s -b < "$T/s"
            # exit status 0/1/2 is spam/ham/unsure, 3 an error
            /usr/bin/time -f "%U %S" -o "$T/t3" bogofilter -C -d "$T/db" -b -TT < "$T/t" > "$T/o" ||
                [ $? -lt 3 ] || { echo "spam_eval.sh: bogofilter failed" >&2; exit 1; }
            tr=$(echo "$tr $(cpu "$T/t1") $(cpu "$T/t2")" | awk '{ print $1 + $2 + $3 }')
            tc=$(echo "$tc $(cpu "$T/t3")" | awk '{ print $1 + $2 }')
            ntr=$((ntr + $(wc -l < "$T/h") + $(wc -l < "$T/s")))
            ncl=$((ncl + $(wc -l < "$T/t")))
            # bogofilter -b prints "PATH SCORE"
            awk -v g="$g" 'NR == FNR { lab[$3] = $2; next } { print g, lab[$1], $2, $2, $1 }' \
                "$split" "$T/o" >> "$out"
        done
        best=$(echo "$ntr $tr $ncl $tc" |
            awk -v b="$best" '{ if (b == "") { print; exit } split(b, o, " ");
                print $1, ($2 < o[2] ? $2 : o[2]), $3, ($4 < o[4] ? $4 : o[4]) }')
    done
    echo "$best"
}

speed() { # NAME "TRAIN_N TRAIN_S CLASS_N CLASS_S"
    echo "$1 $2" | awk '{ printf "%-28s %8.0f %8.0f\n", $1, $2 / $3, $4 / $5 }'
}

ratio() { # "ours" "theirs": train and classify speed ratios
    echo "$1 $2" | awk '{ printf "%.2fx %.2fx", ($1 / $2) / ($5 / $6), ($3 / $4) / ($7 / $8) }'
}

echo "splits (easy-ham-1 + spam-1 only):"
$PY tests/bench/spam_split.py cv "$SA/easy-ham-1" "$SA/spam-1" 5 > "$T/cv.split"
$PY tests/bench/spam_split.py time "$SA/easy-ham-1" "$SA/spam-1" 0.7 > "$T/time.split" 2> "$T/cut"
awk '{ n[$1 " " $2]++ } END { for (k in n) print "  cv fold " k ": " n[k] }' "$T/cv.split" | sort
sed 's/^/  /' "$T/cut"
awk '{ n[($1 ? "test " : "train ") $2]++ } END { for (k in n) print "  time split " k ": " n[k] }' \
    "$T/time.split" | sort
$PY tests/bench/spam_strip.py "$T/cv.split" "$T/copies-cv" > "$T/cv-strip.split"
$PY tests/bench/spam_strip.py "$T/time.split" "$T/copies-time" > "$T/time-strip.split"

for s in cv time; do
    which=cv
    [ $s = time ] && which=1
    eval "sp_ours_$s=\$(ours \"\$T/$s.split\" $which \"\$T/ours-$s\")"
    eval "sp_bogo_$s=\$(bogo \"\$T/$s.split\" $which \"\$T/bogo-$s\")"
    eval "sp_strip_$s=\$(bogo \"\$T/$s-strip.split\" $which \"\$T/strip-$s\")"
done

echo
echo "== stratified 5-fold cross-validation (easy-ham-1 + spam-1)"
$PY tests/bench/spam_metrics.py ${ROC:+--roc "$T/roc-cv.dat"} built-in="$T/ours-cv" \
    bogofilter="$T/bogo-cv" bogofilter-stripped-headers="$T/strip-cv"
echo
echo "== time split by Date (easy-ham-1 + spam-1: train early, test late)"
$PY tests/bench/spam_metrics.py ${ROC:+--roc "$T/roc-time.dat"} built-in="$T/ours-time" \
    bogofilter="$T/bogo-time" \
    bogofilter-stripped-headers="$T/strip-time"
echo
echo "== speed, messages per CPU second (read, parse, tokenize included; best of $RUNS)"
printf '%-28s %8s %8s\n' system train classify
speed "built-in(cv)" "$sp_ours_cv"
speed "bogofilter(cv)" "$sp_bogo_cv"
speed "built-in(time)" "$sp_ours_time"
speed "bogofilter(time)" "$sp_bogo_time"
echo "built-in / bogofilter, train and classify: cv $(ratio "$sp_ours_cv" "$sp_bogo_cv"), time split $(ratio "$sp_ours_time" "$sp_bogo_time")"

if [ -n "$ROC" ]; then
    gnuplot <<EOF
set terminal pngcairo size 1400,600 font ",11"
set output "$ROC"
set multiplot layout 1,2 title "Spam filter ROC on the SpamAssassin public corpus (easy-ham-1 + spam-1)"
set xlabel "ham false positive rate (log scale; no false positive at all drawn at 0)"
set ylabel "spam recall"
set logscale x
set xrange [0.0002:1]
set xtics ("0" 0.0002, "0.0005" 0.0005, "0.001" 0.001, "0.01" 0.01, "0.1" 0.1, "1" 1)
set key bottom right
set grid
x(f) = f < 0.0002 ? 0.0002 : f
set title "stratified 5-fold cross-validation (2500 ham, 500 spam)"
set yrange [0.9:1.001]
plot "$T/roc-cv.dat" index 0 using (x(\$1)):2 with steps lw 2 title "built-in (logistic regression, OSB, AdaGrad)", \
     "$T/roc-cv.dat" index 1 using (x(\$1)):2 with steps lw 2 title "bogofilter 1.2.5 (raw messages)", \
     "$T/roc-cv.dat" index 2 using (x(\$1)):2 with steps lw 2 dt 2 title "bogofilter, collection headers stripped"
set title "time split: trained before 2002-09-17, tested after (1391 ham, 150 spam)"
set yrange [0.5:1.001]
plot "$T/roc-time.dat" index 0 using (x(\$1)):2 with steps lw 2 title "built-in", \
     "$T/roc-time.dat" index 1 using (x(\$1)):2 with steps lw 2 title "bogofilter (raw)", \
     "$T/roc-time.dat" index 2 using (x(\$1)):2 with steps lw 2 dt 2 title "bogofilter, headers stripped"
unset multiplot
EOF
    echo "ROC curves: $ROC"
fi

if [ -n "$HOLDOUT" ]; then
    echo
    echo "== INDEPENDENT MEASUREMENT (held-out folders, never used for any decision):"
    echo "   trained on all of easy-ham-1 + spam-1, classified easy-ham-2, hard-ham-1, spam-2"
    { awk '{ print 0, $2, $3 }' "$T/cv.split"
      for d in easy-ham-2 hard-ham-1 spam-2; do
          l=ham; [ $d = spam-2 ] && l=spam
          for f in "$SA/$d"/*; do echo "1 $l $f"; done
      done; } > "$T/hold.split"
    RUNS=1
    ours "$T/hold.split" 1 "$T/ours-hold" > /dev/null
    bogo "$T/hold.split" 1 "$T/bogo-hold" > /dev/null
    $PY tests/bench/spam_strip.py "$T/hold.split" "$T/copies-hold" > "$T/hold-strip.split"
    bogo "$T/hold-strip.split" 1 "$T/strip-hold" > /dev/null
    for d in easy-ham-2 hard-ham-1; do
        for sys in ours bogo strip; do
            grep -E "/($d|spam-2)/" "$T/$sys-hold" > "$T/$sys-vs-$d"
        done
        echo
        echo "-- $d ($(grep -c "/$d/" "$T/ours-hold") ham) against spam-2 ($(grep -c /spam-2/ "$T/ours-hold") spam)"
        $PY tests/bench/spam_metrics.py built-in="$T/ours-vs-$d" bogofilter="$T/bogo-vs-$d" \
            bogofilter-stripped-headers="$T/strip-vs-$d"
    done
fi
