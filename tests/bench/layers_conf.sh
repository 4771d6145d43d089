# layers_conf.sh - the configuration the benchmarks call "every local layer
# on": customers, and regex with 900 qregex patterns (300 each in badhelo,
# badmailfrom, badrcptto) and two header rules.  Source it, then:
#   layers_conf DIR LOCAL_DOMAIN [TRUSTED_NETWORKS]   -> DIR/policy.conf
layers_conf() {
    local d=$1 domain=$2 trusted=${3:-}
    for f in badhelo badmailfrom badrcptto; do
        for i in $(seq 300); do echo "^$f-$i[0-9]+\\.spam\\.example\$"; done > "$d/$f"
    done
    {
        echo "[customers]"
        echo "local_domains = $domain"
        [ -n "$trusted" ] && echo "trusted_networks = $trusted"
        echo "[regex]"
        echo "badhelo = $d/badhelo"
        echo "badmailfrom = $d/badmailfrom"
        echo "badrcptto = $d/badrcptto"
        echo 'header_block = Subject: make\s+money\s+fast'
        echo 'header_block = X-Mailer: .*bulk.?mailer'
    } > "$d/policy.conf"
}
