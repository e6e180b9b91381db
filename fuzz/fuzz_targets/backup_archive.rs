//! Backup archives (`openclaw backup verify` / `restore`, `openclaw::cli::backup`): any tar
//! stream, raw or behind gzip, is read to its end or refused without a panic, and one that
//! passes holds only relative paths below its single root (checked again with the tar
//! crate as a separate reading), so a restore of it cannot write outside its target.
#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;
use openclaw::cli::backup::verify_tar;

fuzz_target!(|data: &[u8]| {
    // Behind gzip too (the archive as it is on disk): a corrupt stream is only refused.
    let _ = verify_tar(flate2::read::GzDecoder::new(data));
    let Ok(v) = verify_tar(data) else {
        return;
    };
    assert!(!v.root.is_empty());
    assert_eq!(v.manifest["schemaVersion"], 1);
    let mut again = tar::Archive::new(data);
    for e in again.entries().expect("a verified stream reads again") {
        let e = e.expect("a verified entry reads again");
        let path = e.path().expect("a verified path").into_owned();
        assert!(
            path.components().all(|c| matches!(c, Component::Normal(_))),
            "{}",
            path.display()
        );
        assert!(path.starts_with(&v.root), "{}", path.display());
        assert!(!e.header().entry_type().is_hard_link());
    }
});
