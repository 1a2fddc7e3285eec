#!/usr/bin/env bash
# End-to-end benchmark: a release build imports N new persons (one lead each, no follow-up
# activities) into a sandbox on 127.0.0.1 in production mode at a quota, then reports the
# achieved rate against the quota, throttled answers and requests per lead.
#
#   bash benches/e2e.sh [ROWS] [RATE]        e.g. bash benches/e2e.sh 600 600/min
#   LATENCY=50ms CONCURRENCY=16 bash benches/e2e.sh 400 off     (unthrottled, added latency)
#   RERUN=1 bash benches/e2e.sh 10000 off                       (then a rerun of the same file)
#   RERUN=1 PAD=1000000 bash benches/e2e.sh 2000 off   (before the rerun, 1,000,000 more rows in
#                                                       its journal, as years of nightly drops)
#   RERUN_ARGS="--mode upsert"                           (flags for the rerun only)
#   BIN=/tmp/other/krayin-etl bash benches/e2e.sh ...   (another build, to compare)
#
# Also prints the import's peak RSS (/usr/bin/time). Loopback only; the sandbox is stopped at
# the end.
set -euo pipefail
ROWS=${1:-600}
RATE=${2:-600/min}
PORT=${PORT:-18765}
LATENCY=${LATENCY:-0}
CONCURRENCY=${CONCURRENCY:-4}
RERUN=${RERUN:-0}
PAD=${PAD:-0}
RERUN_ARGS=${RERUN_ARGS:-}
source "$(dirname "$0")/setup.sh"
trap 'kill $SB 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
python3 - "$ROWS" <<'PY'
import sys
n = int(sys.argv[1])
with open("e2e.csv", "w") as f:
    f.write("Company,Deal,Contact,Email,Phone,Value,Close date,Source,Owner,Stage,Job title,Notes\n")
    for i in range(n):
        f.write(f"Co {i},Deal {i},Person {i},p{i}@e2e.test,,{i}00,2031-01-31,Web,,,,\n")
PY
sed '/\[\[activities\]\]/,$d' "$ROOT/mappings/leads.toml" > e2e.toml
"$BIN" sandbox --addr "127.0.0.1:$PORT" --db :memory: --mode production --rate-limit "$RATE" --latency "$LATENCY" > sandbox.log 2>&1 &
SB=$!
sleep 1
KRAYIN_API_BASE="http://127.0.0.1:$PORT/api/v1" KRAYIN_LOGIN_EMAIL=admin@example.com KRAYIN_LOGIN_PASSWORD=admin123 \
  /usr/bin/time -f "%M" -o rss.txt \
  "$BIN" import e2e.csv --mapping e2e.toml --rate "$RATE" --concurrency "$CONCURRENCY" --report report.json -q 2>/dev/null || true
echo "import peak RSS: $(( $(tail -n 1 rss.txt) / 1024 )) MB"
curl -s "http://127.0.0.1:$PORT/_sandbox/stats" > stats.json
if [ "$RERUN" = 1 ]; then
  if [ "$PAD" -gt 0 ]; then
    # Rows of other days' files under the same name: done entries with their own fingerprints
    # and keys, written the way the import writes them.
    python3 - "$PAD" <<'PAD'
import json, random, sys
rnd = random.Random(7)
with open(".krayin-etl/e2e.csv.journal", "a") as f:
    for i in range(int(sys.argv[1])):
        f.write(json.dumps({"t": "done", "fp": f"{rnd.getrandbits(128):032x}", "row": i + 2,
            "outcome": "created", "lead_id": 10**7 + i, "person_id": 10**7 + i,
            "updated_at": "2026-01-01T00:00:00.000000Z", "key": f"deal {i}|p{i}@old.test"},
            separators=(",", ":")) + "\n")
PAD
    echo "journal padded with $PAD rows: $(( $(stat -c %s .krayin-etl/e2e.csv.journal) / 1048576 )) MB"
  fi
  START=$(date +%s.%N)
  KRAYIN_API_BASE="http://127.0.0.1:$PORT/api/v1" KRAYIN_LOGIN_EMAIL=admin@example.com KRAYIN_LOGIN_PASSWORD=admin123 \
    /usr/bin/time -f "%M" -o rerun-rss.txt \
    "$BIN" import e2e.csv --mapping e2e.toml --rate "$RATE" --report rerun.json $RERUN_ARGS -q 2>/dev/null || true
  END=$(date +%s.%N)
  python3 -c "import json; r=json.load(open('rerun.json')); print(f'rerun: {r[\"requests\"]} requests, {r[\"skipped\"]} skipped, {$END-$START:.2f} s wall')"
  echo "rerun peak RSS: $(( $(tail -n 1 rerun-rss.txt) / 1024 )) MB"
fi
python3 - "$RATE" "$LATENCY" "$CONCURRENCY" <<'PY'
import json, sys
rate, latency, conc = sys.argv[1], sys.argv[2], sys.argv[3]
if rate == "off":
    quota = None
else:
    n, unit = rate.split("/")
    quota = int(n) / {"s": 1, "min": 60, "h": 3600}[unit]
r = json.load(open("report.json"))
s = json.load(open("stats.json"))
written = r["created"] + r["reused_person"]
print(f"rows {r['rows']}, written {written}, failed {r['failed']}, {r['duration_secs']:.1f} s")
if quota:
    print(f"leads/s {r['leads_per_sec']:.3f} / quota {quota:.3f} req/s = {r['leads_per_sec'] / quota:.3f}")
else:
    print(f"leads/s {r['leads_per_sec']:.2f} unthrottled, latency {latency}, concurrency {conc}")
print(f"requests {r['requests']} = {r['requests'] / max(written, 1):.4f} per lead; throttled by the server: {s['requests']['throttled']}")
PY
