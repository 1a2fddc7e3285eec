#!/usr/bin/env bash
# The bad-input corpus, measured: `krayin-etl check FILE --offline` on every file of
# tests/data/bad/ and on generated large ones (10,000 columns in many rows, a 1 MB cell in
# every row, Windows-1252 lines among UTF-8 ones, NUL bytes throughout, a zip bomb that lies
# about its size). Prints, for each, the exit code, the peak RSS, the wall time and the first
# line of the message, so that "a clear message, the documented exit code, bounded memory"
# is seen rather than asserted.
#
#   bash benches/badinput.sh [SCALE]     SCALE multiplies the generated files' rows (default 1)
set -euo pipefail
SCALE=${1:-1}
source "$(dirname "$0")/setup.sh"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
cp "$ROOT"/tests/data/bad/* .
python3 - "$SCALE" <<'PY'
import sys, zipfile, zlib
scale = int(sys.argv[1])
# 10,000 columns in 2,000 rows (~100 MB), the three mapped columns first.
filler = ",".join(str(i) for i in range(3, 10000))
with open("wide.csv", "w") as f:
    f.write("Company,Contact,Email," + ",".join(f"c{i}" for i in range(3, 10000)) + "\n")
    for r in range(2000 * scale):
        f.write(f"Co {r},Person {r},p{r}@wide.test,{filler}\n")
# A 1 MB company name in each of 200 rows (~200 MB): every row refused, kept whole in the report.
big = "x" * (1 << 20)
with open("bigcells.csv", "w") as f:
    f.write("Company,Contact,Email\n")
    for r in range(200 * scale):
        f.write(f"{big},Person {r},p{r}@big.test\n")
# 500,000 lines, every 100th in Windows-1252 among UTF-8 ones.
with open("mixed.csv", "wb") as f:
    f.write(b"Company,Contact,Email\n")
    for r in range(500000 * scale):
        f.write(f"Café {r},João {r},p{r}@mixed.test\n".encode("cp1252" if r % 100 == 99 else "utf-8"))
# 500,000 lines with NUL bytes inside cells.
with open("nuls.csv", "wb") as f:
    f.write(b"Company,Contact,Email\n")
    for r in range(500000 * scale):
        f.write(f"Co\0{r},Per\0son {r},p{r}@nul.test\n".encode())
PY
python3 "$ROOT/tests/data/bad/make_liar.py" liar-1g.xlsx 1024

printf '%-22s %-22s %5s %9s %8s  %s\n' FILE MAPPING EXIT RSS_MB WALL_S MESSAGE
run() {
  local file=$1 mapping=$2
  local code=0
  /usr/bin/time -f "%M %e" -o time.txt "$BIN" check "$file" --mapping "$mapping" --offline \
    > out.txt 2> err.txt || code=$?
  read -r rss wall < <(tail -n 1 time.txt)  # after "Command exited with non-zero status"
  local msg
  msg=$(grep -v '^\s*$' err.txt | grep -v 'INFO\|WARN' | head -1 | cut -c1-110)
  printf '%-22s %-22s %5s %9.1f %8s  %s\n' "$file" "$mapping" "$code" \
    "$(echo "$rss / 1024" | bc -l)" "$wall" "$msg"
}
for f in nul.csv mixed-encoding.csv formulas.csv emoji-rtl.csv truncated.xlsx bomb.xlsx \
         liar.xlsx liar-1g.xlsx repeat.ods wide.csv bigcells.csv mixed.csv nuls.csv; do
  run "$f" minimal.toml
done
for m in mapping-mistakes.toml mapping-syntax.toml mapping-type.toml; do
  run nul.csv "$m"
done
