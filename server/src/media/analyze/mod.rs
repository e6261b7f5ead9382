//! Audio file analysis: probing (container, codec, exact duration) and waveform peaks.
//!
//! Everything here is synchronous and CPU/IO bound; callers are expected to run it on a blocking
//! thread. Every loop over packets checks the caller's deadline and returns
//! [`MediaError::TimedOut`] once it has passed.
//!
//! Notes on how the duration is obtained (symphonia 0.6):
//! * `Track::num_frames` is the number of *playable* frames (delay/padding already removed) and
//!   `Track::duration` is the same length in `Track::time_base` units. Both are trusted only
//!   when the container states them exactly (FLAC STREAMINFO, WAV data chunk, MP4 sample table,
//!   Ogg last granule) and a quick look at the end of the file confirms that the data is there.
//! * MPEG audio (MP3) and ADTS give only an estimate (or nothing) and are therefore always
//!   counted packet by packet, as are truncated files and PCM files whose header claims more
//!   data than the file holds.
//! * Packets carry `dur` plus `trim_start`/`trim_end` (encoder delay/padding to drop). Summing
//!   `dur` yields the length for every reader except MP3: in 0.6.1 the MP3 reader's packets keep
//!   the untrimmed frame length in `dur` and an unclamped `trim_end` that grows past the
//!   (possibly estimated) end. MP3 lengths are therefore taken from packet timestamps, which
//!   start at minus the LAME encoder delay, and capped by the LAME/Xing frame count. Without a
//!   LAME tag the reader's end trim comes from a bit-rate *estimate*, so decoding then runs with
//!   gapless trimming off. Packets without a duration (Matroska) are measured by timestamps too.
//! * MP4 edit lists are not applied by symphonia 0.6, so AAC in MP4 includes the encoder
//!   priming (usually 1024 frames, ~23 ms) in its length and waveform.

use std::fmt;
use std::fs::File;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use symphonia::core::audio::{Audio, Channels, GenericAudioBufferRef};
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known as format_ids;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, Track, TrackFlags};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::{TimeBase, Timestamp};

/// Formats named in user-facing messages.
const SUPPORTED: &str = "MP3, FLAC, WAV, AIFF, OGG Vorbis, Opus, AAC/M4A, ALAC";

/// While probing, give up if this many packets in a row fail to decode before one succeeds.
const SNIFF_MAX_FAILURES: u32 = 32;

/// Demuxer decode errors tolerated in a row before the rest of the stream is given up on.
const MAX_DEMUX_ERRORS_IN_A_ROW: u32 = 16;

/// How much audio (seconds) at the end of the file is read to confirm a header's length.
const TAIL_CHECK_SECONDS: u64 = 2;

/// Basic facts about an audio file (also what the sandbox sends over its
/// pipe, and what the metadata job records): `app::media::Facts`.
pub use app::media::Facts as AudioInfo;

/// Why a file could not be analysed.
#[derive(Debug)]
pub enum MediaError {
    /// Not a format/codec wavekeep can read. The text is an optional detail.
    Unsupported(String),
    /// The file looks like audio but its data is damaged or empty.
    Malformed(String),
    /// Reading the file failed.
    Io(std::io::Error),
    /// The deadline passed before the work was done.
    TimedOut,
    /// An image that cannot be artwork (not JPEG, PNG or WebP, too many
    /// pixels, damaged): the reason as a person reads it.
    Image(String),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::Unsupported(detail) if detail.is_empty() => {
                write!(
                    f,
                    "not an audio file wavekeep can read (supported: {SUPPORTED})"
                )
            }
            MediaError::Unsupported(detail) => write!(
                f,
                "not an audio file wavekeep can read: {detail} (supported: {SUPPORTED})"
            ),
            MediaError::Malformed(detail) => write!(f, "the audio data is damaged: {detail}"),
            MediaError::Io(err) => write!(f, "the file could not be read: {err}"),
            MediaError::TimedOut => write!(f, "decoding took too long"),
            MediaError::Image(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for MediaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MediaError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for MediaError {
    fn from(err: std::io::Error) -> Self {
        MediaError::Io(err)
    }
}

fn malformed(detail: impl Into<String>) -> MediaError {
    MediaError::Malformed(detail.into())
}

fn no_audio() -> MediaError {
    malformed("contains no audio")
}

fn from_symphonia(err: SymError) -> MediaError {
    match err {
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => {
            malformed("the file ends unexpectedly")
        }
        SymError::IoError(e) => MediaError::Io(e),
        SymError::DecodeError(msg) => malformed(msg),
        SymError::Unsupported(msg) => MediaError::Unsupported(msg.to_string()),
        SymError::LimitError(msg) => malformed(format!("it exceeds a safety limit ({msg})")),
        SymError::ResetRequired => reset_error(),
        other => malformed(other.to_string()),
    }
}

fn reset_error() -> MediaError {
    malformed("the stream changes its format midway (chained streams are not supported)")
}

fn check_deadline(deadline: Instant) -> Result<(), MediaError> {
    if Instant::now() >= deadline {
        Err(MediaError::TimedOut)
    } else {
        Ok(())
    }
}

/// Every entry point (probe, waveform, preview, speech chunks) on one
/// file, without the panic guard, each with `budget` of time: what the fuzz
/// target (`fuzz/`) and the fuzzed-input regression tests run. Errors are
/// the file's verdict; a panic, a hang or a runaway allocation is a bug.
/// `scratch` is a directory for the outputs (emptied by the caller).
pub fn exercise(path: &Path, scratch: &Path, budget: std::time::Duration) {
    let _ = probe::probe_inner(path, Instant::now() + budget);
    let _ = peaks::waveform_inner(path, 64, 50, Instant::now() + budget, &mut |_| {});
    let _ = preview::preview_inner(
        path,
        &scratch.join("preview.mp3"),
        Instant::now() + budget,
        &mut |_| {},
    );
    let _ = speech::speech_inner(
        path,
        scratch,
        5_000,
        None,
        Instant::now() + budget,
        &mut |_| {},
    );
    let _ = tags::tags_inner(path, &scratch.join("art"), Instant::now() + budget);
    let _ = art::thumbnails_inner(path, scratch, Instant::now() + budget);
}

/// Turns a panic inside the decoding libraries into an error instead of unwinding into the caller.
fn guard<T>(work: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(malformed("the decoder failed on this file")))
}

mod art;
mod buckets;
mod codecs;
mod peaks;
mod preview;
mod probe;
mod source;
mod speech;
mod tags;

use codecs::*;
use source::*;

pub use art::{thumb_path, thumbnails, MAX_PIXELS};
pub use peaks::{waveform, Peaks};
pub use preview::{preview, PREVIEW_KBPS};
pub use probe::probe;
pub use speech::{speech_chunks, SPEECH_RATE};
pub use tags::read_tags;
