//! Checks across the rows of one file, after each row was mapped (which already applied
//! Krayin's per-row rules, contract §7–§8).
//!
//! Krayin keeps e-mails and phones unique across persons (§7, §14). Inside one file, rows that
//! share an e-mail are one person (their leads will share it); a phone that turns up on a
//! *different* person is refused on the later row, with the earlier row named, because Krayin
//! would refuse it with a bare "already taken". Rows whose e-mails belong to two different
//! earlier persons are refused too: they would merge two people.

use smallvec::SmallVec;

use crate::krayin::{email_hash, stable_hash as hash};
use crate::pipeline::map::MappedLead;
use crate::pipeline::seen::Seen;
use crate::record::{Problem, Rejection, Row, Stage};

/// The in-file identity of a person: rows with the same key are the same person. A hash of
/// the first row's identity (e-mail, else phone, else name), so that the state kept per person
/// is a few bytes whatever the file's size.
pub type PersonKey = u64;

#[derive(Default)]
pub struct FileChecks {
    /// Source columns of `person.emails` and `person.phones`, for the error report.
    email_column: Option<String>,
    phone_column: Option<String>,
    /// hash of the normalized e-mail → (person, first row). Hashes, not strings: this map
    /// grows with the file (in memory up to half a million entries, then in sorted runs on disk). (A
    /// 64-bit collision would merge two people: odds ~1e-8 at a million.)
    emails: Seen<u64>,
    /// hash of the E.164 phone → (person, first row).
    phones: Seen<u64>,
}

impl FileChecks {
    pub fn new(email_column: Option<&str>, phone_column: Option<&str>) -> FileChecks {
        FileChecks {
            email_column: email_column.map(str::to_string),
            phone_column: phone_column.map(str::to_string),
            ..FileChecks::default()
        }
    }

    /// Checks `lead` (mapped from `row`) against the rows before it; returns its person key,
    /// or the row's rejection. The outer error is a failure of the checks' own storage.
    pub fn check(
        &mut self,
        row: &Row,
        lead: &MappedLead,
    ) -> anyhow::Result<Result<PersonKey, Rejection>> {
        let mut problems = Vec::new();
        // A row has an e-mail or two and a phone or two: these stay on the stack.
        let mut known: SmallVec<[(PersonKey, u64, &str); 2]> = SmallVec::new();
        // The hashes no earlier row had: recorded if the row passes.
        let mut new_emails: SmallVec<[u64; 4]> = SmallVec::new();
        let mut first_email = None;
        for e in &lead.person.emails {
            let h = email_hash(e);
            first_email.get_or_insert(h);
            match self.emails.get(h)? {
                Some((k, r)) => {
                    if !known.iter().any(|(kk, _, _)| *kk == k) {
                        known.push((k, r, e));
                    }
                }
                None => new_emails.push(h),
            }
        }
        if known.len() > 1 {
            let rows: Vec<String> = known
                .iter()
                .map(|(_, r, e)| format!("{e} (row {r})"))
                .collect();
            problems.push(
                Problem::new(
                    "person.emails",
                    lead.person.emails.join("; "),
                    format!(
                        "these e-mails belong to different people earlier in the file: {}; split them or fix the row",
                        rows.join(", ")
                    ),
                )
                .with_column(self.email_column.as_deref()),
            );
        }
        let key: PersonKey = match known.first() {
            Some((k, _, _)) => *k,
            // A new person: its first e-mail's hash (already made) stands for
            // `MappedPerson::key`'s e-mail form; else the phone or name form.
            None => match first_email {
                Some(h) => h,
                None => hash(&lead.person.key()),
            },
        };
        let mut new_phones: SmallVec<[u64; 4]> = SmallVec::new();
        for p in &lead.person.phones {
            let h = hash(p);
            let Some((k, r)) = self.phones.get(h)? else {
                new_phones.push(h);
                continue;
            };
            if k != key {
                problems.push(
                    Problem::new(
                        "person.phones",
                        p.clone(),
                        format!(
                            "this phone already belongs to another person in row {r}; Krayin keeps phones \
                             unique across persons, so remove it from one of the rows"
                        ),
                    )
                    .with_column(self.phone_column.as_deref()),
                );
            }
        }
        if !problems.is_empty() {
            return Ok(Err(Rejection::new(row, Stage::Validate, problems)));
        }
        let at = row.provenance.row;
        for h in new_emails {
            self.emails.insert_absent(h, (key, at))?;
        }
        for h in new_phones {
            self.phones.insert_absent(h, (key, at))?;
        }
        Ok(Ok(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Provenance;

    fn lead(emails: &[&str], phones: &[&str]) -> MappedLead {
        MappedLead::bare("t", "n", emails, phones)
    }

    fn row(n: u64) -> Row {
        Row {
            provenance: Provenance {
                file: "f.csv".into(),
                sheet: None,
                row: n,
            },
            cells: Default::default(),
        }
    }

    impl FileChecks {
        fn t(&mut self, row: &Row, lead: &MappedLead) -> Result<PersonKey, Rejection> {
            self.check(row, lead).unwrap()
        }
    }

    #[test]
    fn same_email_is_one_person() {
        let mut c = FileChecks::default();
        let a = c
            .t(&row(2), &lead(&["Jane@x.test"], &["+5511999990000"]))
            .unwrap();
        let b = c
            .t(&row(3), &lead(&["jane@x.test"], &["+5511999990000"]))
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_shared_phone_on_another_person_rejects_the_later_row() {
        let mut c = FileChecks::default();
        c.t(&row(2), &lead(&["a@x.test"], &["+5511999990000"]))
            .unwrap();
        let r = c
            .t(&row(5), &lead(&["b@x.test"], &["+5511999990000"]))
            .unwrap_err();
        assert_eq!(r.problems[0].field, "person.phones");
        assert!(r.problems[0].message.contains("row 2"));
        // The rejected row left nothing behind: b@x.test is still free.
        c.t(&row(6), &lead(&["b@x.test"], &[])).unwrap();
    }

    #[test]
    fn emails_of_two_people_on_one_row_are_refused() {
        let mut c = FileChecks::default();
        c.t(&row(2), &lead(&["a@x.test"], &[])).unwrap();
        c.t(&row(3), &lead(&["b@x.test"], &[])).unwrap();
        let r = c
            .t(&row(4), &lead(&["a@x.test", "b@x.test"], &[]))
            .unwrap_err();
        assert!(r.problems[0].message.contains("row 2") && r.problems[0].message.contains("row 3"));
    }
}
