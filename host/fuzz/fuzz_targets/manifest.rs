//! Manifest text, as a plugins dir or an upload brings it: parsing never
//! panics, and a refusal always names what is wrong.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = hostel::Manifest::parse(text, Path::new("fuzz/hostel.toml")) {
        assert!(!e.to_string().is_empty());
    }
    if let Err(e) = hostel::Manifest::parse_upload(text) {
        assert!(e.to_string().contains("uploaded manifest"), "{e}");
    }
});
