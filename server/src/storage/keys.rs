//! Names of stored things: object and derived-file keys, and random names
//! for spool files and uploads.

use rand::RngCore;

use app::files::Derived;

/// The key of the object with content `sha256` (hex).
pub fn object_key(sha256: &str) -> String {
    let (a, b) = (
        sha256.get(..2).unwrap_or("00"),
        sha256.get(2..4).unwrap_or("00"),
    );
    format!("objects/{a}/{b}/{sha256}")
}

/// The key of `file` derived from the content `sha256`.
pub fn derived_key(sha256: &str, file: Derived) -> String {
    format!("derived/{sha256}/{}", file.file_name())
}

/// The folder of unfinished upload `id`'s bytes on object storage
/// (`staging`); `None` for anything that is not an upload id.
pub fn staged_dir(id: &str) -> Option<String> {
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| format!("uploads/{id}"))
}

/// Whether `s` is a sha256 in hex (what may name an object).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 24 random hex characters (96 bits): names of spool files and uploads.
pub fn random_name() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let sha = "ab".repeat(32);
        assert_eq!(object_key(&sha), format!("objects/ab/ab/{sha}"));
        assert_eq!(
            derived_key(&sha, Derived::PeaksFine),
            format!("derived/{sha}/peaks-fine.json")
        );
        assert!(is_sha256(&sha) && !is_sha256("../etc") && !is_sha256(&sha[1..]));
        let (a, b) = (random_name(), random_name());
        assert_eq!(staged_dir("abc1").as_deref(), Some("uploads/abc1"));
        assert!(staged_dir("../x").is_none() && staged_dir("").is_none());
        assert!(a.len() == 24 && a != b && a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
