//! Signed links to a track's files: the player's stream (original or
//! preview), downloads, and the "all stems" archive. Paths end in a safe file
//! name so that browsers and download managers save something sensible.

use super::{AssetInfo, Playback};
use crate::state::AppState;

/// `base` (a slug or a role) plus the original file's extension, in
/// characters that need no escaping anywhere.
pub fn safe_name(base: &str, original: Option<&str>) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(max)
            .collect::<String>()
            .trim_matches('-')
            .to_string()
    };
    let base = match clean(base, 80) {
        b if b.is_empty() => "audio".to_string(),
        b => b,
    };
    let ext = original
        .and_then(|o| o.rsplit_once('.'))
        .map(|(_, e)| clean(e, 8))
        .filter(|e| !e.is_empty());
    match ext {
        Some(e) => format!("{base}.{e}"),
        None => base,
    }
}

/// The Content-Type to stream a file as, from what its metadata says
/// (codec and container), else the type it was uploaded with.
pub fn audio_mime(codec: Option<&str>, container: Option<&str>, uploaded: &str) -> String {
    match codec {
        Some("mp3") => "audio/mpeg".into(),
        Some("aac") | Some("alac") => "audio/mp4".into(),
        Some("opus") | Some("vorbis") => match container {
            Some("webm") | Some("mkv") => "audio/webm".into(),
            _ => "audio/ogg".into(),
        },
        Some("flac") => "audio/flac".into(),
        Some(c) if c.starts_with("pcm") => match container {
            Some("aiff") => "audio/aiff".into(),
            _ => "audio/wav".into(),
        },
        _ => uploaded.to_string(),
    }
}

/// What the player plays: the original when browsers play it well, else the
/// preview once it exists, else the original (it may still play). The link
/// names `user`, so it keeps working for them (owner, admin) if the track
/// turns private, and stops for everyone else.
pub fn playback(
    state: &AppState,
    asset: &AssetInfo,
    base: &str,
    user: Option<i64>,
) -> Option<Playback> {
    if asset.processing_error.is_some() {
        return None;
    }
    let ttl = state.settings.stream_link_ttl;
    if !asset.plays_in_browsers() && asset.preview_ready {
        let path = format!("/media/{}/preview/{}.mp3", asset.id, safe_name(base, None));
        return Some(Playback {
            src: state.secrets.sign(&path, ttl, user),
            mime: "audio/mpeg".into(),
            preview: true,
        });
    }
    let name = safe_name(base, asset.original_filename.as_deref());
    let path = format!("/media/{}/stream/{name}", asset.id);
    Some(Playback {
        src: state.secrets.sign(&path, ttl, user),
        mime: audio_mime(
            asset.codec.as_deref(),
            asset.container.as_deref(),
            &asset.mime,
        ),
        preview: false,
    })
}

/// A download link for `user` (its use lands in their history).
pub fn download(state: &AppState, asset: &AssetInfo, base: &str, user: Option<i64>) -> String {
    let name = safe_name(base, asset.original_filename.as_deref());
    let path = format!("/media/{}/download/{name}", asset.id);
    state
        .secrets
        .sign(&path, state.settings.download_link_ttl, user)
}

/// A link to every stem of a version as one zip archive.
pub fn stems_zip(state: &AppState, version_id: i64, base: &str, user: Option<i64>) -> String {
    let path = format!(
        "/media/stems/{version_id}/{}-stems.zip",
        safe_name(base, None)
    );
    state
        .secrets
        .sign(&path, state.settings.stems_link_ttl, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe() {
        assert_eq!(
            safe_name("my-song-x1", Some("Final Mix.WAV")),
            "my-song-x1.wav"
        );
        assert_eq!(safe_name("../../etc", Some("a.b/../c")), "etc.c");
        assert_eq!(safe_name("", None), "audio");
        assert_eq!(safe_name("drums", Some("noext")), "drums");
    }
}
