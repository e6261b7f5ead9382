//! What kind of audio file the first bytes say it is, never its name: one
//! check shared by every way in that must decide before decoding (the
//! importer skipping non-audio files, call uploads naming a file that came
//! without a name).

/// How many first bytes `audio_kind` looks at.
pub const HEAD_LEN: usize = 12;

/// The usual extension of the audio container `head` starts (wav, aiff,
/// mp3, m4a, ogg, flac, webm); `None` for anything else.
pub fn audio_kind(head: &[u8]) -> Option<&'static str> {
    let at = |range: std::ops::Range<usize>| head.get(range);
    if head.starts_with(b"RIFF") && at(8..12) == Some(b"WAVE") {
        Some("wav")
    } else if head.starts_with(b"FORM") && matches!(at(8..12), Some(b"AIFF" | b"AIFC")) {
        Some("aiff")
    } else if head.starts_with(b"ID3")
        || (head.len() > 1 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0)
    {
        Some("mp3")
    } else if at(4..8) == Some(b"ftyp") {
        Some("m4a")
    } else if head.starts_with(b"OggS") {
        Some("ogg")
    } else if head.starts_with(b"fLaC") {
        Some("flac")
    } else if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("webm")
    } else {
        None
    }
}

/// `audio_kind` of the file at `path` (`None` when it cannot be read).
pub fn file_audio_kind(path: &std::path::Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; HEAD_LEN];
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < HEAD_LEN {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    audio_kind(&head[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(audio_kind(b"RIFF\0\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(audio_kind(b"FORM\0\0\0\0AIFC"), Some("aiff"));
        assert_eq!(audio_kind(b"ID3\x04"), Some("mp3"));
        assert_eq!(audio_kind(&[0xFF, 0xFB, 0x90]), Some("mp3"));
        assert_eq!(audio_kind(b"\0\0\0\x20ftypM4A "), Some("m4a"));
        assert_eq!(audio_kind(b"OggS\0\x02"), Some("ogg"));
        assert_eq!(audio_kind(b"fLaC\0\0\0\x22"), Some("flac"));
        assert_eq!(audio_kind(&[0x1A, 0x45, 0xDF, 0xA3, 1]), Some("webm"));
        assert_eq!(audio_kind(b"RIFF\0\0\0\0WEBPVP8 "), None);
        assert_eq!(audio_kind(b"<html>"), None);
        assert_eq!(audio_kind(b""), None);
    }
}
