#!/usr/bin/env bash
# `assent copy` at scale (issue 19): a SQLite deployment with one account, service and webhook
# endpoint made through the HTTP API, then 1,000,000 settled deliveries and their 1,000,000
# events inserted by SQL, copied to the local PostgreSQL (a new database, assent_copy_bench)
# and verified. Prints the copy's own report and /usr/bin/time's CPU and memory.
# Run from the repository after `cargo build --release -p assent`; needs sqlite3 and psql.
set -euo pipefail
A=${ASSENT_BIN:-$PWD/target/release/assent}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
D=$work/data
mkdir -p "$D"
cd "$work"
ASSENT_ALLOW_PRIVATE_WEBHOOKS=true $A --data-dir "$D" serve --bind 127.0.0.1:47311 > serve.log 2>&1 &
pid=$!
for i in $(seq 50); do curl -fs http://127.0.0.1:47311/health >/dev/null && break; sleep 0.2; done
U=http://127.0.0.1:47311
curl -fs -c jar -H 'Content-Type: application/json' -H "Origin: $U" -d '{"email":"bench@example.com","password":"correct horse battery staple","namespace":"bench"}' $U/v1/auth/signup > signup.json
tok=$(python3 -c 'import json;d=json.load(open("signup.json"));print(d.get("token") or d.get("session_token") or d.get("session",{}).get("token",""))')
[ -n "$tok" ] || { cat signup.json; exit 1; }
svc=$(curl -fs -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{"name":"Bench","slug":"bench-svc"}' $U/v1/services | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
ep=$(curl -fs -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{"url":"https://hooks.example.com/in"}' $U/v1/services/$svc/webhooks | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d.get("id") or d["webhook"]["id"])')
kill "$pid"; wait "$pid" || true
sqlite3 "$D/assent.db" <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000000)
INSERT INTO events (id, service_id, namespace, event_type, payload, created_at)
SELECT printf('evt_bench%07d', i), '$svc', 'bench', 'request.approved',
       '{"event":"request.approved","data":{"claim_id":"' || printf('cl_%07d', i) || '","namespace":"bench"}}',
       1765000000000 + i FROM n;
INSERT INTO deliveries (id, event_id, endpoint_id, status, attempt_count, next_attempt_at, created_at, completed_at)
SELECT 'dlv_' || substr(id, 5), id, '$ep', 'succeeded', 1, created_at, created_at, created_at + 5 FROM events WHERE id LIKE 'evt_bench%';
COMMIT;
SQL
sqlite3 "$D/assent.db" "select count(*) from deliveries; select count(*) from events;"
psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS assent_copy_bench' -c 'CREATE DATABASE assent_copy_bench'
/usr/bin/time -v $A --data-dir "$D" copy --from "sqlite://$D/assent.db" --to postgres://postgres@127.0.0.1:5432/assent_copy_bench --batch 5000 2>&1 | tail -40
