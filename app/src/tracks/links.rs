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

/// The type a stored file is served as, decided from its bytes: what the
/// metadata job's decoder recognised (codec, then container). Always an
/// `audio/*` type or `application/octet-stream`; never what the uploader
/// claimed (a name or type chosen by a client could make a browser run the
/// file as a page).
pub fn audio_mime(codec: Option<&str>, container: Option<&str>) -> &'static str {
    let by_container = |c: Option<&str>| match c {
        Some("wav") | Some("wave") | Some("riff") => Some("audio/wav"),
        Some("aiff") => Some("audio/aiff"),
        Some("ogg") => Some("audio/ogg"),
        Some("webm") | Some("mkv") => Some("audio/webm"),
        Some("mp4") | Some("isomp4") | Some("m4a") => Some("audio/mp4"),
        Some("flac") => Some("audio/flac"),
        Some("mp3") => Some("audio/mpeg"),
        Some("adts") | Some("aac") => Some("audio/aac"),
        Some("caf") => Some("audio/x-caf"),
        _ => None,
    };
    let by_codec = match codec {
        None => return OCTET_STREAM,
        Some("mp3") | Some("mp2") | Some("mp1") => Some("audio/mpeg"),
        Some("aac") | Some("alac") => match container {
            Some("adts") | Some("aac") => Some("audio/aac"),
            _ => Some("audio/mp4"),
        },
        Some("opus") | Some("vorbis") => match container {
            Some("webm") | Some("mkv") => Some("audio/webm"),
            _ => Some("audio/ogg"),
        },
        Some("flac") => match container {
            Some("ogg") => Some("audio/ogg"),
            _ => Some("audio/flac"),
        },
        Some(_) => None,
    };
    by_codec
        .or_else(|| by_container(container))
        .unwrap_or(OCTET_STREAM)
}

/// What a file nobody recognised as audio is sent as (always as an attachment).
pub const OCTET_STREAM: &str = "application/octet-stream";

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
    // Only a file the decoder recognised as audio is ever streamed: until
    // its metadata succeeded there is no link to play (a download is still
    // possible, always as an attachment).
    if asset.processing_error.is_some() || asset.codec.is_none() {
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
        mime: audio_mime(asset.codec.as_deref(), asset.container.as_deref()).to_string(),
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

    #[test]
    fn served_types_are_audio_or_octet_stream() {
        assert_eq!(audio_mime(Some("mp3"), Some("mp3")), "audio/mpeg");
        assert_eq!(audio_mime(Some("pcm_s16le"), Some("wav")), "audio/wav");
        assert_eq!(audio_mime(Some("pcm_s16be"), Some("aiff")), "audio/aiff");
        assert_eq!(audio_mime(Some("opus"), Some("webm")), "audio/webm");
        assert_eq!(audio_mime(Some("aac"), Some("mp4")), "audio/mp4");
        assert_eq!(audio_mime(None, None), OCTET_STREAM);
        assert_eq!(audio_mime(Some("mystery"), Some("html")), OCTET_STREAM);
        for codec in [
            "mp3",
            "flac",
            "vorbis",
            "opus",
            "aac",
            "alac",
            "pcm_f32le",
            "x",
        ] {
            for container in ["mp3", "ogg", "wav", "mp4", "html", "svg"] {
                let m = audio_mime(Some(codec), Some(container));
                assert!(m.starts_with("audio/") || m == OCTET_STREAM, "{m}");
            }
        }
    }
}
