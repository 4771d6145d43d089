# sigs.sh - ClamAV signatures written by the tests themselves (no
# freshclam, no network).  Source it, then:
#   sigs_eicar FILE        the EICAR test string, joined at run time from
#                          two halves so that no file of the tree is "infected"
#   sigs_write DIR [KIND]  a database in DIR: "all" (default) = hash.hdb (an
#                          MD5:size:name line per file of clamav-testfiles)
#                          + body.ndb (EICAR and the code of clam.exe) +
#                          clam.ldb (a logical signature on clam.exe's
#                          strings); "hash", "body" or "ldb" for one of them
# Detections come back with ".UNOFFICIAL" appended.
SIGS_TESTFILES=${SIGS_TESTFILES:-/usr/share/clamav-testfiles}

sigs_eicar() {
    local a='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR' b='-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
    printf '%s%s' "$a" "$b" > "$1"
}

sigs_write() {
    local d=$1 kind=${2:-all} f e
    mkdir -p "$d"
    if [ "$kind" = all ] || [ "$kind" = hash ]; then
        for f in "$SIGS_TESTFILES"/*; do
            printf '%s:%s:ClamTest.Hash.%s\n' "$(md5sum < "$f" | cut -d' ' -f1)" \
                "$(stat -c %s "$f")" "$(basename "$f" | tr -c 'A-Za-z0-9.\n-' _)"
        done > "$d/hash.hdb"
    fi
    if [ "$kind" = all ] || [ "$kind" = body ]; then
        e=$(mktemp)
        sigs_eicar "$e"
        {
            echo "Test.Eicar:0:*:$(od -An -tx1 -v "$e" | tr -d " \n")"
            # clam.exe's 50 bytes of code at offset 64: found inside every
            # archive, encoding and packer of clamav-testfiles
            echo "ClamTest.Exe.Body:0:*:$(od -An -tx1 -v -j 64 -N 50 "$SIGS_TESTFILES/clam.exe" | tr -d " \n")"
        } > "$d/body.ndb"
        rm -f "$e"
    fi
    if [ "$kind" = all ] || [ "$kind" = ldb ]; then
        # a PE (target 1) holding both "CLAMessageBoxA" and "[CLAMAV]"
        echo 'ClamTest.Logical;Engine:51-255,Target:1;(0&1);434c414d657373616765426f7841;5b434c414d41565d' \
            > "$d/clam.ldb"
    fi
}
