//! Run ids: `YYYYMMDDTHHMMSSZ-xxxx`, the run's start in UTC and 16 random bits in hex. Every
//! data file a run stages is named `part-<run id>-<seq>.parquet` ([`crate::sink::part_name`]),
//! which ties it to its run; files other writers put in a table directory (deltalake's MERGE,
//! OPTIMIZE and appends: `part-00000-<uuid>-c000.zstd.parquet`) never have that form.

/// A new run id: sortable time plus a random suffix.
pub fn new_run_id(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}-{:04x}",
        now.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u16>()
    )
}

/// Whether `text` has exactly the form [`new_run_id`] gives.
pub fn is_run_id(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 21
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The run that staged the data file named `name`, when the name has the form of a run's
/// files (`part-<run id>-<seq>.parquet`, the sequence in decimal digits).
pub fn run_of_file(name: &str) -> Option<&str> {
    let (run, seq) = name
        .strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .rsplit_once('-')?;
    (is_run_id(run) && !seq.is_empty() && seq.bytes().all(|c| c.is_ascii_digit())).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_round_trip_and_other_writers_files_are_not_ours() {
        let id = new_run_id(chrono::Utc::now());
        assert!(is_run_id(&id), "{id}");
        let name = crate::sink::part_name(&id, 3);
        assert_eq!(run_of_file(&name), Some(id.as_str()));
        assert_eq!(
            run_of_file("part-20261129T100000Z-1a2b-00003.parquet"),
            Some("20261129T100000Z-1a2b")
        );
        // Files deltalake writes (MERGE, OPTIMIZE, appends) look alike but are not a run's.
        for other in [
            "part-00000-6f1c3a3e-1b1e-4b8e-9d3a-0c2f5e2d7a11-c000.zstd.parquet",
            "part-00001-0a1b2c3d-0000-4000-8000-000000000000-c000.snappy.parquet",
            "part-20261129T100000Z-1A2B-00003.parquet",
            "part-20261129T100000Z-1a2b-.parquet",
            "part-2026112T100000Z-1a2b-00001.parquet",
            "part-x.json",
            "state.json",
        ] {
            assert_eq!(run_of_file(other), None, "{other}");
        }
    }
}
