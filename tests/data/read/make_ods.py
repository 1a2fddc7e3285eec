"""Writes leads.ods, the ODS fixture of src/pipeline/read/xlsx.rs's tests.

No ODS writer is among the crate's dependencies, so the fixture is written by hand: an ODS file
is a zip of a mimetype, a manifest and content.xml. Run `python3 make_ods.py` in this folder
to regenerate it; the output is deterministic.
"""

import re
import zipfile

CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content
  xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
  xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
  xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
  xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
  office:version="1.2">
 <office:automatic-styles>
  <style:style style:name="ta1" style:family="table">
   <style:table-properties table:display="true"/>
  </style:style>
  <style:style style:name="ta2" style:family="table">
   <style:table-properties table:display="false"/>
  </style:style>
 </office:automatic-styles>
 <office:body>
  <office:spreadsheet>
   <table:table table:name="Config" table:style-name="ta2">
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>segredo</text:p></table:table-cell>
    </table:table-row>
   </table:table>
   <table:table table:name="Leads" table:style-name="ta1">
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>Nome</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Fone</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Valor</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Data</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Hora</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Ativo</text:p></table:table-cell>
    </table:table-row>
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>João</text:p></table:table-cell>
     <table:table-cell office:value-type="float" office:value="5511999990000"><text:p>5,51E+12</text:p></table:table-cell>
     <table:table-cell office:value-type="float" office:value="15000.5"><text:p>15000,5</text:p></table:table-cell>
     <table:table-cell office:value-type="date" office:date-value="2024-03-15"><text:p>15/03/2024</text:p></table:table-cell>
     <table:table-cell office:value-type="time" office:time-value="PT10H30M00S"><text:p>10:30</text:p></table:table-cell>
     <table:table-cell office:value-type="boolean" office:boolean-value="true"><text:p>VERDADEIRO</text:p></table:table-cell>
    </table:table-row>
    <table:table-row table:number-rows-repeated="2">
     <table:table-cell table:number-columns-repeated="6"/>
    </table:table-row>
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>Maria</text:p></table:table-cell>
     <table:table-cell/>
     <table:table-cell/>
     <table:table-cell office:value-type="date" office:date-value="2024-03-15T10:30:00"><text:p>15/03/2024 10:30</text:p></table:table-cell>
    </table:table-row>
   </table:table>
  </office:spreadsheet>
 </office:body>
</office:document-content>
"""

MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""


# LibreOffice writes content.xml without whitespace between elements, and calamine's parser
# expects exactly that: the indentation above is for reading only.
CONTENT = re.sub(r">\s+<", "><", CONTENT.strip())


def entry(name):
    # A fixed timestamp keeps the file byte-for-byte reproducible.
    return zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))


with zipfile.ZipFile("leads.ods", "w") as ods:
    # The mimetype comes first and uncompressed, as the ODF spec asks.
    ods.writestr(entry("mimetype"), "application/vnd.oasis.opendocument.spreadsheet",
                 compress_type=zipfile.ZIP_STORED)
    ods.writestr(entry("META-INF/manifest.xml"), MANIFEST, compress_type=zipfile.ZIP_DEFLATED)
    ods.writestr(entry("content.xml"), CONTENT, compress_type=zipfile.ZIP_DEFLATED)
