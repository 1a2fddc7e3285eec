"""Regenerates samples/leads-excel.xlsx (needs openpyxl; not used by the build or the tests)."""
import datetime
import openpyxl

wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Leads"
ws.append(["Company", "Deal", "Contact", "Email", "Phone", "Value", "Close date", "Source", "Stage"])
rows = [
    ("Northwind", "Catalogue", "Nancy Davolio", "nancy@northwind.test", 5511999990011, 4200.5, datetime.date(2031, 2, 28), "Web", "New"),
    ("Contoso", "Licences", "Kim Abercrombie", "kim@contoso.test", 5511999990012, 15000, datetime.date(2031, 3, 31), "Email", "Follow Up"),
    ("Fabrikam", "Pilot", "Ty Carlson", "ty@fabrikam.test", 5511999990013, 980, datetime.date(2031, 4, 30), "Phone", "Prospect"),
    ("Northwind", "Training", "Nancy Davolio", "nancy@northwind.test", 5511999990011, 1200, datetime.date(2031, 5, 31), "Web", "New"),
    ("Litware", "Old deal", "Zoe Litt", "zoe@litware.test", None, 300, datetime.date(2020, 1, 31), "Web", "New"),
    ("Proseware", "Bad phone", "Pat Pros", "pat@proseware.test", 12, 700, datetime.date(2031, 1, 31), "Web", "New"),
    ("Adatum", "Unknown stage", "Ada Tum", "ada@adatum.test", 5511999990016, 700, datetime.date(2031, 1, 31), "Web", "Closed-ish"),
]
for r in rows:
    ws.append(list(r))
for row in ws.iter_rows(min_row=2, min_col=7, max_col=7):
    for c in row:
        c.number_format = "dd/mm/yyyy"
notes = wb.create_sheet("Notes")
notes.append(["This sheet is not imported: the mapping reads the first sheet, 'Leads'."])
wb.save("leads-excel.xlsx")
