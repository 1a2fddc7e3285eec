//! Bytes → UTF-8 for the CSV reader, for the two kinds of file it meets: files in one
//! encoding (decoded as a stream by encoding_rs_io), and files whose lines do not share one.
//!
//! The second kind is common in nightly drops: a Latin-1 export from an old system, appended
//! to or edited in a UTF-8 editor, or two files concatenated. Decoded whole as windows-1252,
//! its UTF-8 lines would reach Krayin as mojibake ("JoÃ£o"); decoded as UTF-8, its Latin-1
//! accents would become U+FFFD. [`ByLine`] takes each line as UTF-8 when it is valid UTF-8
//! and holds no C1 control character (U+0080–U+009F, never text), and decodes it from the
//! file's legacy encoding otherwise. A line of a real windows-1252 file is valid UTF-8 only if
//! it is ASCII (the same text either way) or if every one of its accented letters is an
//! uppercase one directly followed by a symbol from 0x80–0xBF ("Ã©", "É" and a no-break
//! space): the residual ambiguity, far rarer than the mixed files this reads right.
//!
//! Used only where it is sound: an encoding that was guessed (no byte-order mark, no
//! `--encoding`) and is single-byte (windows-1252, ISO-8859-x…), so that CR and LF bytes are
//! line ends in both and a line is never valid UTF-8 by the chance that makes short lines of
//! double-byte encodings (GBK, Big5, Shift_JIS) so.
//! Not here: choosing the encoding (the CSV reader's sample and chardetng).

use std::io::{self, Read};
use std::sync::Arc;

use encoding_rs::Encoding;
use encoding_rs_io::DecodeReaderBytes;

/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

/// The decoder under the CSV reader.
pub(super) enum Decoder<R> {
    /// One encoding for the whole file (a BOM, `--encoding`, UTF-8, or UTF-16).
    Whole(DecodeReaderBytes<R, Vec<u8>>),
    /// Line by line: UTF-8 where valid, else the legacy encoding.
    ByLine(ByLine<R>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Whole(d) => d.read(buf),
            Decoder::ByLine(d) => d.read(buf),
        }
    }
}

/// Decodes each line on its own (see the module's doc). Holds the undecoded end of the last
/// chunk (a line cut in two) and the decoded text not yet read: memory is a chunk plus the
/// longest line, as for csv itself.
pub(super) struct ByLine<R> {
    inner: R,
    legacy: &'static Encoding,
    file: Arc<str>,
    /// Read from `inner`, not yet decoded: the start of a line whose end is still to come.
    raw: Vec<u8>,
    /// Decoded, not yet handed out (from `at`).
    out: Vec<u8>,
    at: usize,
    eof: bool,
    /// Line ends decoded so far, to name the first UTF-8 line in the warning.
    lines: u64,
    /// The last byte decoded was a CR: an LF next is the same line end.
    after_cr: bool,
    warned: bool,
}

impl<R: Read> ByLine<R> {
    pub(super) fn new(inner: R, legacy: &'static Encoding, file: Arc<str>) -> ByLine<R> {
        debug_assert!(legacy.is_single_byte());
        ByLine {
            inner,
            legacy,
            file,
            raw: Vec::new(),
            out: Vec::new(),
            at: 0,
            eof: false,
            lines: 0,
            after_cr: false,
            warned: false,
        }
    }

    /// Reads a chunk and decodes the whole lines it completes (everything at the end of the
    /// file). Returns false when nothing is left.
    fn fill(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.at = 0;
        while self.out.is_empty() {
            if self.eof {
                if self.raw.is_empty() {
                    return Ok(false);
                }
                let rest = std::mem::take(&mut self.raw);
                self.decode(&rest);
                return Ok(true);
            }
            let start = self.raw.len();
            // `read_to_end` retries interrupted reads; `take` keeps it to a chunk.
            if (&mut self.inner)
                .take(CHUNK as u64)
                .read_to_end(&mut self.raw)?
                == 0
            {
                self.eof = true;
                continue;
            }
            // Whole lines only: up to the last CR or LF of what is held.
            if let Some(end) = memchr::memrchr2(b'\n', b'\r', &self.raw[start..]) {
                let end = start + end + 1;
                let rest = self.raw.split_off(end);
                let lines = std::mem::replace(&mut self.raw, rest);
                self.decode(&lines);
            }
        }
        Ok(true)
    }

    /// Decodes whole lines into `out`, each in the encoding it is in. Runs of lines that are
    /// not UTF-8 are decoded in one call (ASCII lines read the same either way, so they join
    /// any run): a pure legacy file costs one classification a line and one decoder call a
    /// chunk.
    fn decode(&mut self, lines: &[u8]) {
        let mut run = 0;
        let mut at = 0;
        // Where each line ends (after its CR or LF); the file's last line may have no end.
        let unended = lines.last().is_some_and(|b| !matches!(b, b'\n' | b'\r'));
        let ends = memchr::memchr2_iter(b'\n', b'\r', lines)
            .map(|i| i + 1)
            .chain(unended.then_some(lines.len()));
        for next in ends {
            let line = &lines[at..next];
            if !line.is_ascii() && is_utf8_text(line) {
                if !self.warned {
                    self.warned = true;
                    let number = self.lines + 1 + self.line_ends(&lines[..at]);
                    tracing::warn!(
                        file = %self.file,
                        line = number,
                        encoding = self.legacy.name(),
                        "the file mixes encodings: this line is UTF-8 in a file read as {}; each line is read in its own encoding",
                        self.legacy.name()
                    );
                }
                self.push_legacy(&lines[run..at]);
                self.out.extend_from_slice(line);
                run = next;
            }
            at = next;
        }
        self.push_legacy(&lines[run..]);
        self.lines += self.line_ends(lines);
        self.after_cr = lines.last() == Some(&b'\r');
    }

    /// Line ends in `bytes`, the next bytes after those decoded so far: CR, LF, and a CRLF
    /// once, even when a chunk ended between its CR and its LF.
    fn line_ends(&self, bytes: &[u8]) -> u64 {
        let crlf = memchr::memmem::find_iter(bytes, b"\r\n").count();
        let split = usize::from(self.after_cr && bytes.first() == Some(&b'\n'));
        (memchr::memchr2_iter(b'\n', b'\r', bytes).count() - crlf - split) as u64
    }

    fn push_legacy(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let (text, _) = self.legacy.decode_without_bom_handling(bytes);
            self.out.extend_from_slice(text.as_bytes());
        }
    }
}

/// Valid UTF-8 without C1 controls: `C2 80`–`C2 9F` is "Â" and a symbol in windows-1252.
fn is_utf8_text(line: &[u8]) -> bool {
    std::str::from_utf8(line).is_ok()
        && !line
            .windows(2)
            .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
}

impl<R: Read> Read for ByLine<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.out.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::WINDOWS_1252;
    use proptest::prelude::*;

    /// Reads everything through [`ByLine`], the input handed over `cut` bytes at a time and
    /// read back `take` bytes at a time.
    fn decode(bytes: &[u8], cut: usize, take: usize) -> String {
        struct Cut<'a>(&'a [u8], usize);
        impl Read for Cut<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut d = ByLine::new(Cut(bytes, cut), WINDOWS_1252, "f.csv".into());
        let mut out = Vec::new();
        let mut buf = vec![0u8; take];
        loop {
            let n = d.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).expect("UTF-8 out")
    }

    #[test]
    fn regression_a_utf8_line_in_a_latin1_file_is_not_mojibake() {
        // tests/data/bad/mixed-encoding.csv: line 2 in UTF-8, line 3 in windows-1252.
        let bytes = b"Company,Contact\nPadaria,Jo\xc3\xa3o\nA\xe7a\xed,Concei\xe7\xe3o\n";
        assert_eq!(
            decode(bytes, 64 * 1024, 8192),
            "Company,Contact\nPadaria,João\nAçaí,Conceição\n"
        );
    }

    #[test]
    fn a_latin1_line_that_pairs_into_c1_controls_stays_latin1() {
        // "Â€" and "Â™" in windows-1252 are C2 80 and C2 99: valid UTF-8, but controls.
        assert_eq!(decode(b"\xc2\x80 \xc2\x99\n", 7, 7), "Â€ Â™\n");
        // A real UTF-8 "Â" followed by text is kept.
        assert_eq!(decode(b"\xc3\x82ngela\n", 7, 7), "Ângela\n");
    }

    #[test]
    fn a_last_line_without_its_end_and_lone_crs_are_decoded_too() {
        let bytes = b"a\rJo\xc3\xa3o\r\nA\xe7a\xed";
        assert_eq!(decode(bytes, 3, 2), "a\rJoão\r\nAçaí");
        assert_eq!(decode(b"", 3, 2), "");
    }

    proptest! {
        /// Any lines, each written in UTF-8 or windows-1252, in any chunking: every line comes
        /// back as the text it was, and the line ends where they were.
        #[test]
        fn each_line_comes_back_in_its_own_encoding(
            lines in prop::collection::vec(("[a-zA-Z0-9 ,;\"çãéíóúÇÃÉ]{0,20}", any::<bool>(), 0..3usize), 0..20),
            cut in 1..40usize,
            take in 1..40usize,
        ) {
            let mut bytes = Vec::new();
            let mut text = String::new();
            for (line, latin, end) in &lines {
                let end = ["\n", "\r\n", "\r"][*end];
                if *latin {
                    let (b, _, unmappable) = WINDOWS_1252.encode(line);
                    prop_assert!(!unmappable);
                    bytes.extend_from_slice(&b);
                } else {
                    bytes.extend_from_slice(line.as_bytes());
                }
                bytes.extend_from_slice(end.as_bytes());
                text.push_str(line);
                text.push_str(end);
            }
            // A windows-1252 line that happens to be valid UTF-8 would be kept as UTF-8 ("Ã€"
            // is C3 80, UTF-8 for "À"): with these characters (no byte from 0x80 to 0xBF
            // after a lead byte), only an ASCII one, which is the same text.
            prop_assert_eq!(decode(&bytes, cut, take), text);
        }
    }
}
