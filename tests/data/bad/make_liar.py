"""Writes a zip bomb that lies: an XLSX whose sheet declares 1,024 bytes (in its local header
and in the central directory) but inflates to MB megabytes of rows (default 1,024). A check of
the declared sizes lets it through; the zip reader must stop at the declared size. Made
tests/data/bad/liar.xlsx (16 MB, 66 KB of zip); benches/badinput.sh makes a 1 GB one:

    python3 tests/data/bad/make_liar.py tests/data/bad/liar.xlsx 16
"""
import struct
import sys
import zipfile

out = sys.argv[1] if len(sys.argv) > 1 else "liar.xlsx"
SHEET = "xl/worksheets/sheet1.xml"
DECLARED = 1024
EXPANDED = (int(sys.argv[2]) if len(sys.argv) > 2 else 1024) << 20

parts = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '</Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>',
    "xl/workbook.xml":
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '</Relationships>',
}

head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>Company</t></is></c><c r="B1" t="inlineStr"><is><t>Contact</t></is></c>'
        b'<c r="C1" t="inlineStr"><is><t>Email</t></is></c></row>')
row = (b'<row><c t="inlineStr"><is><t>ACME</t></is></c><c t="inlineStr"><is><t>Ann</t></is></c>'
       b'<c t="inlineStr"><is><t>ann@x.test</t></is></c></row>')
block = row * (1 << 20 // len(row) + 1)

with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name, text in parts.items():
        z.writestr(name, text)
    with z.open(SHEET, "w") as s:
        s.write(head)
        written = len(head)
        while written < EXPANDED:
            s.write(block)
            written += len(block)
        s.write(b"</sheetData></worksheet>")

# Both records of the sheet now say it holds DECLARED bytes: the local header (signature
# PK\3\4, name length at 26, name at 30, size at 22) and the central directory's (PK\1\2,
# name length at 28, name at 46, size at 24).
data = bytearray(open(out, "rb").read())
patched = 0
for signature, name_len_at, name_at, size_at in [(b"PK\x03\x04", 26, 30, 22),
                                                  (b"PK\x01\x02", 28, 46, 24)]:
    i = data.find(signature)
    while i >= 0:
        n = struct.unpack_from("<H", data, i + name_len_at)[0]
        if data[i + name_at:i + name_at + n] == SHEET.encode():
            struct.pack_into("<I", data, i + size_at, DECLARED)
            patched += 1
        i = data.find(signature, i + 4)
assert patched == 2, patched
open(out, "wb").write(data)
