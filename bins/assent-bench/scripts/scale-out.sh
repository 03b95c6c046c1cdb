#!/usr/bin/env bash
# The scale-out model's measurements (docs/performance.md, "Scale-out on PostgreSQL"): each hot
# path loaded by assent-bench against a PostgreSQL cluster that has pg_stat_statements, each in
# a fresh, pre-migrated database, and per request (or delivery, or answered notification):
#   stmts    statements PostgreSQL executed (pg_stat_statements calls, BEGIN/COMMIT included)
#   exec_us  their execution time (pg_stat_statements total_exec_time)
#   pg_us    CPU time of every process of the cluster (from /proc: backends, their exited
#            children via the postmaster's cutime/cstime, WAL writer, checkpointer, ...)
# Run from the repository after `cargo build --release -p assent -p assent-bench`.
# Usage: scale-out.sh DATA_DIR [PORT]   (the cluster's data directory, for its postmaster.pid;
#   it needs shared_preload_libraries = 'pg_stat_statements' and the extension created in the
#   `postgres` database). Extra assent-bench flags may follow in BENCH_FLAGS.
set -euo pipefail
data=$1
port=${2:-5433}
bench=${BENCH:-$PWD/target/release/assent-bench}
assent=${ASSENT_BIN:-$PWD/target/release/assent}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
token=adm_scale_out_0123456789abcdef
psql_=(psql -h 127.0.0.1 -p "$port" -U postgres -Atq)
tick=$(getconf CLK_TCK)

# CPU seconds of the cluster so far: the postmaster with its reaped children, and the live ones.
pg_cpu() {
    local pm total=0 pid f
    pm=$(head -1 "$data/postmaster.pid")
    read -ra f < <(sed 's/.*) //' "/proc/$pm/stat")
    # After the ") ": field 3 is index 0, so utime (14) is 11, stime 12, cutime 13, cstime 14.
    total=$((f[11] + f[12] + f[13] + f[14]))
    for pid in $(ps --ppid "$pm" -o pid=); do
        if read -ra f < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null); then
            total=$((total + f[11] + f[12]))
        fi
    done
    echo "$total"
}

run() {
    local scenario=$1 unit=$2
    shift 2
    local db="scale_${scenario//-/_}_$$"
    "${psql_[@]}" -c "CREATE DATABASE $db" >/dev/null
    local url="postgres://postgres@127.0.0.1:$port/$db"
    ASSENT_DATABASE_URL=$url "$assent" migrate >/dev/null 2>&1
    local oid
    oid=$("${psql_[@]}" -c "SELECT oid FROM pg_database WHERE datname = '$db'")
    "${psql_[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null
    local before after line
    before=$(pg_cpu)
    line=$("$bench" --scenario "$scenario" --database-url "$url" --admin-token "$token" \
        --json "$@" 2>/dev/null | tail -1)
    after=$(pg_cpu)
    local stats
    stats=$("${psql_[@]}" -F ' ' -c "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0)
        FROM pg_stat_statements WHERE dbid = $oid")
    python3 - "$scenario" "$unit" "$line" "$stats" "$before" "$after" "$tick" <<'EOF'
import json, sys
scenario, unit, line, stats, before, after, tick = sys.argv[1:]
report = json.loads(line)
count = report.get(unit) or 0
calls, exec_ms = (float(x) for x in stats.split())
cpu = (int(after) - int(before)) / int(tick)
rate = report.get("rps") or report.get("deliveries_per_s") or ""
if count:
    print(f"{scenario:12} {unit}={count:<8} rate={rate!s:<9} stmts={calls / count:5.2f} "
          f"exec_us={exec_ms * 1000 / count:7.1f} pg_us={cpu * 1e6 / count:7.1f} pg_cpu_s={cpu:.2f}")
else:
    print(f"{scenario:12} no {unit} counted: {line}")
EOF
    "${psql_[@]}" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
}

load=(--connections "$connections" --duration "$duration" --warmup 0s ${BENCH_FLAGS:-})
run health requests "${load[@]}"
run verify requests "${load[@]}" ${PRESIGNED:+--presigned "$PRESIGNED"}
if [ -z "${SKIP_CLAIMS:-}" ]; then
    run claims requests "${load[@]}"
    run claims-auto requests "${load[@]}"
fi
run notify requests "${load[@]}"
run respond samples --latency-samples 300
run deliveries delivered --events 20000 --latency-samples 0
