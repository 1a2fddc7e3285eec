#!/usr/bin/env bash
# Export benchmark: a release build imports ROWS leads (each with a new person and organization)
# into a sandbox on 127.0.0.1 with no rate limit, then exports them in every format and reports
# the requests made, the time reading pages, the local write time and the peak RSS per format;
# then an incremental rerun with nothing changed.
#
#   bash benches/export.sh [ROWS]      e.g. bash benches/export.sh 10000
#
# Loopback only; the sandbox is stopped at the end.
set -euo pipefail
ROWS=${1:-10000}
PORT=${PORT:-18766}
source "$(dirname "$0")/setup.sh"
trap 'kill $SB 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
python3 - "$ROWS" <<'PY'
import sys
n = int(sys.argv[1])
stages = ["New", "Follow Up", "Prospect", "Negotiation", "Won", "Lost"]
sources = ["Web", "Email", "Phone", "Direct", "Web Form"]
with open("x.csv", "w") as f:
    f.write("Company,Deal,Contact,Email,Phone,Value,Close date,Source,Owner,Stage,Job title,Notes\n")
    for i in range(n):
        f.write(f"Co {i},Deal {i},Person {i},p{i}@x.test,,{i}00.25,2031-01-31,{sources[i % 5]},,{stages[i % 6]},Buyer,Note {i}\n")
PY
sed '/\[\[activities\]\]/,$d' "$ROOT/mappings/leads.toml" > x.toml
"$BIN" sandbox --addr "127.0.0.1:$PORT" --db x.db --rate-limit off > sandbox.log 2>&1 &
SB=$!
sleep 1
export KRAYIN_API_BASE="http://127.0.0.1:$PORT/api/v1" KRAYIN_LOGIN_EMAIL=admin@example.com KRAYIN_LOGIN_PASSWORD=admin123
"$BIN" import x.csv --mapping x.toml --rate off --concurrency 16 -q 2>/dev/null || true
TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -f %M -o rss.txt"
for fmt in csv xlsx parquet jsonl; do
  $TIME "$BIN" export --out "leads.$fmt" --rate off --report "r-$fmt.json" -q 2>/dev/null
  RSS=$( [ -f rss.txt ] && echo "$(( $(tail -1 rss.txt) / 1024 )) MB" || echo "n/a")
  python3 - "$fmt" "$RSS" "leads.$fmt" <<'PY'
import json, os, sys
fmt, rss, out = sys.argv[1:4]
r = json.load(open(f"r-{fmt}.json"))
print(f"{fmt:8} rows {r['rows']:6}  requests {r['requests']:4} (pages {r['pages']})  "
      f"fetch {r['fetch_secs']:.2f} s  write {r['write_secs']:.3f} s  total {r['duration_secs']:.2f} s  "
      f"size {os.path.getsize(out) / 1e6:.2f} MB  peak RSS {rss}")
PY
done
"$BIN" export --out inc.csv --incremental --rate off -q 2>/dev/null
"$BIN" export --out inc.csv --incremental --rate off --report inc.json -q 2>/dev/null
python3 -c "import json; r=json.load(open('inc.json')); print(f'incremental rerun, nothing changed: {r[\"rows\"]} rows, {r[\"requests\"]} requests (login included), {r[\"duration_secs\"]:.2f} s')"
