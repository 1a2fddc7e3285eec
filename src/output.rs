//! Output files (error reports, success files, exports) are written to a temporary file beside
//! their target and renamed over it when whole: a crash never leaves half a file. This is
//! where that temporary file is made.
//!
//! A temporary file is private (0600) by default; an output is an ordinary file that other
//! users and tools (a reporting share, a BI reader) may need, so it is created the way any
//! file the user makes is: 0666 less the umask (0644 usually).

use std::path::Path;

use tempfile::NamedTempFile;

/// A temporary file in `dir`, to be persisted as an output there.
pub fn temp_in(dir: &Path) -> std::io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn an_output_gets_the_mode_of_any_new_file_not_a_private_one() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        // What the user's umask gives a file created the ordinary way.
        let plain = dir.path().join("plain.csv");
        std::fs::File::create(&plain).unwrap();
        let target = dir.path().join("out.csv");
        super::temp_in(dir.path())
            .unwrap()
            .persist(&target)
            .unwrap();
        assert_eq!(mode(&target), mode(&plain));
    }
}
