# adapters.sh - dns.sh part 2: the same verdicts through policy-milter and the qmail glue.
