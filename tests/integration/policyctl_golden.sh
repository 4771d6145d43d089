#!/bin/bash
# policyctl_golden.sh BUILD_DIR - run policyctl check on every case in
# golden/ (NAME.args: one argument a line, @DIR@ = the case directory) and
# compare stdout, stderr and the exit status with NAME.out, NAME.err and
# NAME.exit.  UPDATE_GOLDEN=1 rewrites the expected files (read the diff!).
set -eu
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
G=$(cd "$(dirname "$0")/golden" && pwd)
P="$B/adapters/cli/policyctl"
mktmp
cp "$G"/* "$T/"
for f in "$T"/*.in; do sed "s|@DIR@|$T|g" "$f" > "${f%.in}"; done

for args in "$G"/*.args; do
    name=$(basename "$args" .args)
    mapfile -t argv < <(sed "s|@DIR@|$T|g" "$args")
    status=0
    "$P" check "${argv[@]}" >"$T/$name.got.out" 2>"$T/$name.got.err" || status=$?
    echo "$status" > "$T/$name.got.exit"
    for k in out err exit; do sed -i "s|$T|@DIR@|g" "$T/$name.got.$k"; done
    if [ -n "${UPDATE_GOLDEN:-}" ]; then
        for k in out err exit; do cp "$T/$name.got.$k" "$G/$name.$k"; done
    fi
    if cmp -s "$T/$name.got.out" "$G/$name.out" && cmp -s "$T/$name.got.err" "$G/$name.err" &&
        cmp -s "$T/$name.got.exit" "$G/$name.exit"; then
        ok "policyctl check $name"
    else
        notok "policyctl check $name" "$(diff "$G/$name.out" "$T/$name.got.out"; diff "$G/$name.err" "$T/$name.got.err"; diff "$G/$name.exit" "$T/$name.got.exit")"
    fi
done

# exit codes that API.md fixes, independent of the golden files
same "a broken configuration exits 78 with one stderr line naming file and line" "78 1" \
    "$(s=0; "$P" check -c "$T/broken_key.conf" --ip 192.0.2.1 2>"$T/e" >/dev/null || s=$?; echo "$s $(wc -l < "$T/e")")"
grep -q "broken_key.conf:5: \[customers\] local_domain: unknown key" "$T/e" &&
    ok "the error line names file, line, section and key" ||
    notok "the error line names file, line, section and key" "$(cat "$T/e")"

# a FIFO or a device where a file belongs is refused at once (timeout: a
# reader that waits on the FIFO or reads /dev/zero forever fails as 124)
mkfifo "$T/fifo.conf" "$T/recipients.fifo"
run() { local s=0; timeout 10 "$P" "$@" >/dev/null 2>"$T/e" || s=$?; echo "$s $(head -1 "$T/e")"; }
same "check -c FIFO: exit 78 at once, naming the file" \
    "78 policyctl: $T/fifo.conf:0: not a regular file" "$(run check -c "$T/fifo.conf" --ip 192.0.2.1)"
same "check -c /dev/zero: exit 78 at once" "78 policyctl: /dev/zero:0: not a regular file" \
    "$(run check -c /dev/zero --ip 192.0.2.1)"
printf '[general]\nlog_level = info\n[customers]\nlocal_domains = example.test\0 example.org\n' > "$T/nul.conf"
same "check -c with a NUL byte: exit 78 naming the line" \
    "78 policyctl: $T/nul.conf:4: NUL byte in the line" "$(run check -c "$T/nul.conf" --ip 192.0.2.1)"
same "makemap FIFO: exit 65 at once" "65 policyctl: $T/recipients.fifo: not a regular file" \
    "$(run makemap "$T/recipients.fifo" "$T/r.cdb")"
same "makemap /dev/zero: exit 65 at once" "65 policyctl: /dev/zero: not a regular file" \
    "$(run makemap /dev/zero "$T/r.cdb")"
same "makemap - < /dev/zero: exit 65 at the first NUL byte" "65 policyctl: -:1: NUL byte in the line" \
    "$(run makemap - "$T/r.cdb" < /dev/zero)"
finish
