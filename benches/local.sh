#!/usr/bin/env bash
# Local stages, whole command: `krayin-etl check FILE --offline` (read + map + validate + the
# in-file duplicate checks + the error report) on a generated CSV and XLSX shaped like the
# criterion bench's rows (benches/pipeline.rs): Brazilian phones to E.164, en numbers, ISO
# dates, every row a new person; every 1,000th row has a bad e-mail, so the report is written.
# Prints, for each file, the median wall time of RUNS runs, rows/s and the largest peak RSS.
#
#   bash benches/local.sh [CSV_ROWS] [XLSX_ROWS]      e.g. bash benches/local.sh 1000000 100000
#   RUNS=5 bash benches/local.sh
#
# No network: --offline skips the server (names are checked for shape only).
set -euo pipefail
CSV_ROWS=${1:-1000000}
XLSX_ROWS=${2:-100000}
RUNS=${RUNS:-3}
source "$(dirname "$0")/setup.sh"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
sed -e '/\[\[activities\]\]/,$d' -e 's/^phone_region = .*/phone_region = "BR"/' \
  "$ROOT/mappings/leads.toml" > big.toml
python3 - "$CSV_ROWS" "$XLSX_ROWS" <<'PY'
import sys, zipfile
from xml.sax.saxutils import escape
csv_rows, xlsx_rows = int(sys.argv[1]), int(sys.argv[2])
HEAD = ["Company", "Deal", "Contact", "Email", "Phone", "Value", "Close date", "Source",
        "Owner", "Stage", "Job title", "Notes"]
def row(i):
    email = f"p{i}.bench.test" if i % 1000 == 999 else f"p{i}@bench.test"
    return [f"Company {i}", f"Deal {i}", f"Person {i}", email,
            f"+55 11 9{i // 10000 % 10000:04}-{i % 10000:04}", f"{1 + i // 1000}{i % 1000:03}.50",
            "2031-01-31", "Web", "admin@example.com", "Follow Up", "Buyer",
            "Imported by the benchmark"]
with open("big.csv", "w") as f:
    f.write(",".join(HEAD) + "\n")
    for i in range(csv_rows):
        f.write(",".join(row(i)) + "\n")
# A minimal XLSX by hand (inline strings, the value as a number): no library needed.
def cells(values, r):
    out = []
    for c, v in enumerate(values):
        ref = f"{chr(65 + c)}{r}"
        if c == 5 and r > 1:
            out.append(f'<c r="{ref}"><v>{v}</v></c>')
        else:
            out.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>')
    return f'<row r="{r}">' + "".join(out) + "</row>"
with zipfile.ZipFile("big.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml",
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '</Types>')
    z.writestr("_rels/.rels",
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>')
    z.writestr("xl/workbook.xml",
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels",
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '</Relationships>')
    with z.open("xl/worksheets/sheet1.xml", "w") as s:
        s.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
        s.write(cells(HEAD, 1).encode())
        for i in range(xlsx_rows):
            values = row(i)
            values[5] = values[5].replace(",", "")
            s.write(cells(values, i + 2).encode())
        s.write(b"</sheetData></worksheet>")
PY
measure() {
  local file=$1 rows=$2
  local walls=() rss=0
  for _ in $(seq "$RUNS"); do
    local code=0
    /usr/bin/time -f "%e %M" -o time.txt "$BIN" check "$file" --mapping big.toml --offline \
      > /dev/null 2> stderr.txt || code=$?
    # 1: finished with refused rows (the bad e-mails); anything else is a failed run.
    if [ "$code" -gt 1 ]; then cat stderr.txt >&2; exit 1; fi
    read -r wall kb < <(tail -n 1 time.txt)
    walls+=("$wall")
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  python3 - "$file" "$rows" "$rss" "${walls[@]}" <<'PY'
import statistics, sys
file, rows, rss, walls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [float(w) for w in sys.argv[4:]]
m = statistics.median(walls)
print(f"{file}: {rows} rows, median {m:.2f} s of {walls} -> {rows / m:,.0f} rows/s, peak RSS {rss / 1024:.0f} MB")
PY
}
ls -l big.csv big.xlsx
measure big.csv "$CSV_ROWS"
measure big.xlsx "$XLSX_ROWS"
errors=$(($(wc -l < big.errors.csv) - 1))
echo "error report lines (big.csv): $errors (expected $((CSV_ROWS / 1000)))"
