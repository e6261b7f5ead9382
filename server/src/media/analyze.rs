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
const SUPPORTED: &str = "MP3, FLAC, WAV, OGG Vorbis, AAC/M4A, ALAC";

/// While probing, give up if this many packets in a row fail to decode before one succeeds.
const SNIFF_MAX_FAILURES: u32 = 32;

/// Demuxer decode errors tolerated in a row before the rest of the stream is given up on.
const MAX_DEMUX_ERRORS_IN_A_ROW: u32 = 16;

/// How much audio (seconds) at the end of the file is read to confirm a header's length.
const TAIL_CHECK_SECONDS: u64 = 2;

/// Basic facts about an audio file (also what the sandbox sends over its pipe).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudioInfo {
    /// Playable length in milliseconds (rounded).
    pub duration_ms: i64,
    /// Playable length in sample frames at `sample_rate`.
    pub frames: u64,
    pub sample_rate: u32,
    pub channels: u16,
    /// Bits per sample of the source, where the format defines one (PCM, FLAC, ALAC).
    pub bit_depth: Option<u16>,
    /// Short lowercase codec name: "mp3", "flac", "pcm_s16le", "vorbis", "aac", "alac", ...
    pub codec: String,
    /// Bits per second: the nominal rate for PCM, file size / duration otherwise.
    pub bitrate: Option<u32>,
    /// Short lowercase container name: "mp3", "flac", "wav", "ogg", "mp4", "adts", ...
    pub container: String,
}

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

/// Turns a panic inside the decoding libraries into an error instead of unwinding into the caller.
fn guard<T>(work: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(malformed("the decoder failed on this file")))
}

// ---------------------------------------------------------------------------------------------
// Codec and container names
// ---------------------------------------------------------------------------------------------

/// (codec, short name, container bits per sample for PCM)
const CODECS: &[(AudioCodecId, &str, Option<u16>)] = &[
    (codec_ids::CODEC_ID_MP3, "mp3", None),
    (codec_ids::CODEC_ID_MP2, "mp2", None),
    (codec_ids::CODEC_ID_MP1, "mp1", None),
    (codec_ids::CODEC_ID_AAC, "aac", None),
    (codec_ids::CODEC_ID_VORBIS, "vorbis", None),
    (codec_ids::CODEC_ID_OPUS, "opus", None),
    (codec_ids::CODEC_ID_FLAC, "flac", None),
    (codec_ids::CODEC_ID_ALAC, "alac", None),
    (codec_ids::CODEC_ID_PCM_S16LE, "pcm_s16le", Some(16)),
    (codec_ids::CODEC_ID_PCM_S16BE, "pcm_s16be", Some(16)),
    (codec_ids::CODEC_ID_PCM_S24LE, "pcm_s24le", Some(24)),
    (codec_ids::CODEC_ID_PCM_S24BE, "pcm_s24be", Some(24)),
    (codec_ids::CODEC_ID_PCM_S32LE, "pcm_s32le", Some(32)),
    (codec_ids::CODEC_ID_PCM_S32BE, "pcm_s32be", Some(32)),
    (codec_ids::CODEC_ID_PCM_S8, "pcm_s8", Some(8)),
    (codec_ids::CODEC_ID_PCM_U8, "pcm_u8", Some(8)),
    (codec_ids::CODEC_ID_PCM_U16LE, "pcm_u16le", Some(16)),
    (codec_ids::CODEC_ID_PCM_U16BE, "pcm_u16be", Some(16)),
    (codec_ids::CODEC_ID_PCM_U24LE, "pcm_u24le", Some(24)),
    (codec_ids::CODEC_ID_PCM_U24BE, "pcm_u24be", Some(24)),
    (codec_ids::CODEC_ID_PCM_U32LE, "pcm_u32le", Some(32)),
    (codec_ids::CODEC_ID_PCM_U32BE, "pcm_u32be", Some(32)),
    (codec_ids::CODEC_ID_PCM_F32LE, "pcm_f32le", Some(32)),
    (codec_ids::CODEC_ID_PCM_F32BE, "pcm_f32be", Some(32)),
    (codec_ids::CODEC_ID_PCM_F64LE, "pcm_f64le", Some(64)),
    (codec_ids::CODEC_ID_PCM_F64BE, "pcm_f64be", Some(64)),
    (codec_ids::CODEC_ID_PCM_ALAW, "pcm_alaw", Some(8)),
    (codec_ids::CODEC_ID_PCM_MULAW, "pcm_mulaw", Some(8)),
    (codec_ids::CODEC_ID_ADPCM_MS, "adpcm_ms", None),
    (codec_ids::CODEC_ID_ADPCM_IMA_WAV, "adpcm_ima_wav", None),
    (codec_ids::CODEC_ID_ADPCM_IMA_QT, "adpcm_ima_qt", None),
];

/// Short name of a codec and, for interleaved PCM, the stored bits per sample.
fn codec_desc(codec: AudioCodecId) -> (String, Option<u16>) {
    if let Some((_, name, bits)) = CODECS.iter().find(|(id, _, _)| *id == codec) {
        return ((*name).to_string(), *bits);
    }
    let name = symphonia::default::get_codecs()
        .get_audio_decoder(codec)
        .map_or_else(
            || "unknown".to_string(),
            |reg| reg.codec.info.short_name.to_ascii_lowercase(),
        );
    (name, None)
}

fn container_name(reader: &dyn FormatReader) -> String {
    let info = reader.format_info();
    let known = [
        (format_ids::FORMAT_ID_WAVE, "wav"),
        (format_ids::FORMAT_ID_AIFF, "aiff"),
        (format_ids::FORMAT_ID_CAF, "caf"),
        (format_ids::FORMAT_ID_MP1, "mp1"),
        (format_ids::FORMAT_ID_MP2, "mp2"),
        (format_ids::FORMAT_ID_MP3, "mp3"),
        (format_ids::FORMAT_ID_ADTS, "adts"),
        (format_ids::FORMAT_ID_OGG, "ogg"),
        (format_ids::FORMAT_ID_FLAC, "flac"),
        (format_ids::FORMAT_ID_ISOMP4, "mp4"),
        (format_ids::FORMAT_ID_MKV, "mkv"),
    ];
    known.iter().find(|(id, _)| *id == info.format).map_or_else(
        || info.short_name.to_ascii_lowercase(),
        |(_, name)| (*name).to_string(),
    )
}

/// Bit depth stored in an ALAC "magic cookie" (codec extra data).
fn alac_bit_depth(params: &AudioCodecParameters) -> Option<u16> {
    if params.codec != codec_ids::CODEC_ID_ALAC {
        return None;
    }
    let mut cookie: &[u8] = params.extra_data.as_deref()?;
    // The config may be wrapped in 'frma' and/or 'alac' atom headers (12 bytes each).
    for tag in [b"frma", b"alac"] {
        if cookie.get(4..8) == Some(&tag[..]) {
            cookie = cookie.get(12..)?;
        }
    }
    // frameLength (u32), compatibleVersion (u8), bitDepth (u8), ...
    let depth = *cookie.get(5)?;
    (1..=32).contains(&depth).then_some(u16::from(depth))
}

// ---------------------------------------------------------------------------------------------
// Opening a file
// ---------------------------------------------------------------------------------------------

struct Source {
    reader: Box<dyn FormatReader>,
    track: Track,
    params: AudioCodecParameters,
    container: String,
    /// MPEG audio elementary stream (MP1/2/3): the reader's length is an estimate at best.
    mpeg_audio: bool,
    /// ADTS AAC stream: the reader's length is an estimate.
    adts: bool,
    file_len: u64,
}

impl Source {
    fn track_id(&self) -> u32 {
        self.track.id
    }

    /// MP3 without a LAME tag: the reader's end trim comes from a length estimate, so the
    /// decoder must not apply it.
    fn untrusted_trim(&self) -> bool {
        self.mpeg_audio && self.track.delay.is_none()
    }

    /// Whether the container's frame count is exact (not an estimate) and may cap a count.
    fn exact_header(&self) -> bool {
        !(self.adts || self.untrusted_trim())
    }

    fn time_base(&self, sample_rate: u32) -> Option<TimeBase> {
        self.track
            .time_base
            .or_else(|| TimeBase::try_from_recip(sample_rate))
    }

    /// Length stated by the container, in frames. Zero means unknown (fragmented MP4).
    fn header_frames(&self, sample_rate: u32) -> Option<u64> {
        self.track
            .num_frames
            .or_else(|| {
                let ticks = self.track.duration?.get();
                Some(ticks_to_frames(
                    ticks,
                    self.time_base(sample_rate),
                    sample_rate,
                ))
            })
            .filter(|frames| *frames > 0)
    }
}

fn open(path: &Path) -> Result<Source, MediaError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    if file_len == 0 {
        return Err(malformed("the file is empty"));
    }

    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(&ext.to_ascii_lowercase());
    }

    let reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|err| match err {
            // An MP4 that starts right but lacks its index was almost always cut short.
            SymError::Unsupported(msg) if msg.contains("missing moov") => {
                malformed("the MP4 file is incomplete (its 'moov' index is missing)")
            }
            SymError::Unsupported(_) => MediaError::Unsupported(String::new()),
            other => from_symphonia(other),
        })?;

    let track = pick_track(reader.as_ref())?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| MediaError::Unsupported("the file has no audio track".to_string()))?;

    let format = reader.format_info().format;
    let mpeg_audio = [
        format_ids::FORMAT_ID_MP1,
        format_ids::FORMAT_ID_MP2,
        format_ids::FORMAT_ID_MP3,
    ]
    .contains(&format);
    let adts = format == format_ids::FORMAT_ID_ADTS;
    let container = container_name(reader.as_ref());

    Ok(Source {
        reader,
        track,
        params,
        container,
        mpeg_audio,
        adts,
        file_len,
    })
}

/// The audio track to analyse: the default-flagged decodable one, else the first decodable one.
fn pick_track(reader: &dyn FormatReader) -> Result<Track, MediaError> {
    let registry = symphonia::default::get_codecs();
    let audio: Vec<(&Track, AudioCodecId)> = reader
        .tracks()
        .iter()
        .filter_map(|t| Some((t, t.codec_params.as_ref()?.audio()?.codec)))
        .collect();
    let decodable = |codec: &AudioCodecId| {
        *codec != CODEC_ID_NULL_AUDIO && registry.get_audio_decoder(*codec).is_some()
    };

    let chosen = audio
        .iter()
        .find(|(t, c)| t.flags.contains(TrackFlags::DEFAULT) && decodable(c))
        .or_else(|| audio.iter().find(|(_, c)| decodable(c)));
    match (chosen, audio.first()) {
        (Some((track, _)), _) => Ok((*track).clone()),
        (None, Some((_, codec))) => {
            let (name, _) = codec_desc(*codec);
            Err(MediaError::Unsupported(format!(
                "the {name} codec is not supported"
            )))
        }
        (None, None) => Err(MediaError::Unsupported(
            "the file has no audio track".to_string(),
        )),
    }
}

fn make_decoder(
    params: &AudioCodecParameters,
    gapless: bool,
) -> Result<Box<dyn AudioDecoder>, MediaError> {
    let opts = AudioDecoderOptions::default().gapless(gapless);
    symphonia::default::get_codecs()
        .make_audio_decoder(params, &opts)
        .map_err(from_symphonia)
}

// ---------------------------------------------------------------------------------------------
// Packet reading
// ---------------------------------------------------------------------------------------------

/// Reads the packets of one track, treating the end of the file (also an unexpected one, i.e. a
/// truncated file) as the end of the stream.
struct Pump {
    track_id: u32,
    packets: u64,
    demux_errors_in_a_row: u32,
}

impl Pump {
    fn new(track_id: u32) -> Self {
        Pump {
            track_id,
            packets: 0,
            demux_errors_in_a_row: 0,
        }
    }

    fn next(
        &mut self,
        reader: &mut dyn FormatReader,
        deadline: Instant,
    ) -> Result<Option<Packet>, MediaError> {
        loop {
            check_deadline(deadline)?;
            match reader.next_packet() {
                Ok(Some(packet)) => {
                    self.demux_errors_in_a_row = 0;
                    if packet.track_id == self.track_id {
                        self.packets += 1;
                        return Ok(Some(packet));
                    }
                }
                Ok(None) => return Ok(None),
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(SymError::IoError(e)) => return Err(MediaError::Io(e)),
                Err(SymError::DecodeError(msg)) => {
                    self.demux_errors_in_a_row += 1;
                    if self.demux_errors_in_a_row >= MAX_DEMUX_ERRORS_IN_A_ROW {
                        // Damaged beyond this point: keep what was read so far, if anything.
                        return if self.packets == 0 {
                            Err(malformed(format!("no audio could be read ({msg})")))
                        } else {
                            Ok(None)
                        };
                    }
                }
                Err(SymError::ResetRequired) => return Err(reset_error()),
                Err(other) => return Err(from_symphonia(other)),
            }
        }
    }
}

fn ticks_to_frames(ticks: u64, tb: Option<TimeBase>, sample_rate: u32) -> u64 {
    match tb {
        Some(tb) if !(tb.numer.get() == 1 && tb.denom.get() == sample_rate) => {
            let num = u128::from(ticks) * u128::from(tb.numer.get()) * u128::from(sample_rate);
            let den = u128::from(tb.denom.get());
            u64::try_from((num + den / 2) / den).unwrap_or(u64::MAX)
        }
        _ => ticks,
    }
}

fn frames_to_ticks(frames: u64, tb: Option<TimeBase>, sample_rate: u32) -> u64 {
    match tb {
        Some(tb) if sample_rate > 0 && !(tb.numer.get() == 1 && tb.denom.get() == sample_rate) => {
            let num = u128::from(frames) * u128::from(tb.denom.get());
            let den = u128::from(tb.numer.get()) * u128::from(sample_rate);
            u64::try_from(num / den).unwrap_or(u64::MAX)
        }
        _ => frames,
    }
}

/// Adds up the length of a track's packets, in time-base ticks.
struct Tally {
    /// MPEG audio: measure by timestamps, not `dur` (see the module notes).
    mpeg_audio: bool,
    /// Interleaved PCM with a 1/sample-rate time base: bytes per frame. A packet cut short by
    /// the end of the file holds fewer frames than its `dur` claims.
    pcm_block: Option<u64>,
    /// Sum of packet durations.
    total: u64,
    /// Some packet had no duration (e.g. Matroska without block durations): measure by
    /// timestamps instead.
    missing_dur: bool,
    first_pts: Option<i64>,
    last_pts: i64,
    /// Length of the last packet: the timestamp step before it, or its own duration.
    last_len: u64,
}

impl Tally {
    fn new(mpeg_audio: bool, pcm_block: Option<u64>) -> Self {
        Tally {
            mpeg_audio,
            pcm_block,
            total: 0,
            missing_dur: false,
            first_pts: None,
            last_pts: 0,
            last_len: 0,
        }
    }

    fn add(&mut self, packet: &Packet) {
        let pts = packet.pts.get();
        let dur = packet.dur.get();
        if self.first_pts.is_none() {
            self.first_pts = Some(pts);
            self.last_len = dur;
        } else if pts > self.last_pts {
            self.last_len = pts.abs_diff(self.last_pts);
        }
        self.last_pts = self.last_pts.max(pts);
        self.missing_dur |= dur == 0 && !packet.data.is_empty();

        let playable = match self.pcm_block {
            Some(block) => dur.min(packet.data.len() as u64 / block),
            None => dur,
        };
        self.total = self.total.saturating_add(playable);
    }

    fn ticks(&self) -> u64 {
        let Some(first) = self.first_pts else {
            return 0;
        };
        let len = i64::try_from(self.last_len).unwrap_or(i64::MAX);
        let end = self.last_pts.saturating_add(len);
        if self.mpeg_audio {
            // MP3 timestamps start at -(encoder delay): the end timestamp is the playable length.
            u64::try_from(end).unwrap_or(0)
        } else if self.missing_dur {
            end.checked_sub(first)
                .and_then(|span| u64::try_from(span).ok())
                .unwrap_or(0)
        } else {
            self.total
        }
    }
}

/// Length of the rest of the track (from the reader's current position), in time-base ticks.
fn count_ticks(
    src: &mut Source,
    pcm_block: Option<u64>,
    deadline: Instant,
) -> Result<u64, MediaError> {
    let mut tally = Tally::new(src.mpeg_audio, pcm_block);
    let mut pump = Pump::new(src.track_id());
    while let Some(packet) = pump.next(src.reader.as_mut(), deadline)? {
        tally.add(&packet);
    }
    Ok(tally.ticks())
}

/// Seeks to shortly before the end the container claims and checks that packets really reach
/// it. Any failure counts as "not confirmed".
fn tail_reaches(
    src: &mut Source,
    expected_end: u64,
    sample_rate: u32,
    deadline: Instant,
) -> Result<bool, MediaError> {
    let tb = src.time_base(sample_rate);
    let span = frames_to_ticks(u64::from(sample_rate) * TAIL_CHECK_SECONDS, tb, sample_rate);
    let tolerance = frames_to_ticks(u64::from(sample_rate / 20), tb, sample_rate);
    let target = i64::try_from(expected_end.saturating_sub(span)).unwrap_or(i64::MAX);
    let track_id = src.track_id();

    let seek = SeekTo::Timestamp {
        ts: Timestamp::new(target),
        track_id,
    };
    if src.reader.seek(SeekMode::Coarse, seek).is_err() {
        return Ok(false);
    }

    let mut end: Option<i64> = None;
    loop {
        check_deadline(deadline)?;
        match src.reader.next_packet() {
            Ok(Some(packet)) if packet.track_id == track_id => {
                let dur = i64::try_from(packet.dur.get()).unwrap_or(i64::MAX);
                let packet_end = packet.pts.get().saturating_add(dur);
                end = Some(end.map_or(packet_end, |e| e.max(packet_end)));
            }
            Ok(Some(_)) => {}
            // End of stream, or an error (e.g. truncated data): judge by what was reached.
            Ok(None) | Err(_) => break,
        }
    }
    let needed = i64::try_from(expected_end.saturating_sub(tolerance)).unwrap_or(i64::MAX);
    Ok(end.is_some_and(|e| e >= needed))
}

// ---------------------------------------------------------------------------------------------
// probe
// ---------------------------------------------------------------------------------------------

/// Reads the container and enough of the stream to report exact facts about the audio.
///
/// Cheap for files whose container states an exact length (FLAC, WAV, MP4, Ogg): the header is
/// read, one packet decoded and the last seconds checked. MP3/ADTS and damaged files are read
/// packet by packet (without decoding) to count frames.
///
/// # Errors
///
/// [`MediaError::Unsupported`] for files that are not audio wavekeep can decode,
/// [`MediaError::Malformed`] for damaged or empty audio, [`MediaError::Io`] for read failures
/// and [`MediaError::TimedOut`] once `deadline` has passed.
pub fn probe(path: &Path, deadline: Instant) -> Result<AudioInfo, MediaError> {
    guard(|| probe_inner(path, deadline))
}

fn probe_inner(path: &Path, deadline: Instant) -> Result<AudioInfo, MediaError> {
    check_deadline(deadline)?;
    let mut src = open(path)?;
    let mut decoder = make_decoder(&src.params, !src.untrusted_trim())?;

    // Decoders fill in what some containers leave out (e.g. AAC/ALAC channels in MP4).
    let dec_params = decoder.codec_params().clone();
    let mut sample_rate = src
        .params
        .sample_rate
        .or(dec_params.sample_rate)
        .filter(|r| *r > 0);
    let mut channels = src
        .params
        .channels
        .as_ref()
        .or(dec_params.channels.as_ref())
        .map(Channels::count)
        .filter(|c| *c > 0);
    let (codec, pcm_bits) = codec_desc(src.params.codec);
    // Only lossless codecs have a meaningful bit depth (Matroska states one for Vorbis, too).
    let lossless = pcm_bits.is_some()
        || [
            codec_ids::CODEC_ID_FLAC,
            codec_ids::CODEC_ID_ALAC,
            codec_ids::CODEC_ID_WAVPACK,
            codec_ids::CODEC_ID_MONKEYS_AUDIO,
            codec_ids::CODEC_ID_TTA,
        ]
        .contains(&src.params.codec);
    let bit_depth = src
        .params
        .bits_per_sample
        .or(dec_params.bits_per_sample)
        .and_then(|b| u16::try_from(b).ok())
        .filter(|b| *b > 0)
        .or_else(|| alac_bit_depth(&src.params))
        .or(pcm_bits)
        .filter(|_| lossless);

    let header_frames = sample_rate.and_then(|sr| src.header_frames(sr));
    // Bytes per frame of interleaved PCM.
    let pcm_block = match (pcm_bits, channels, sample_rate) {
        (Some(bits), Some(ch), Some(sr)) => Some(u64::from(bits / 8) * ch as u64)
            .filter(|b| *b > 0)
            // Only usable to cap packet lengths when ticks are frames.
            .filter(|_| {
                src.time_base(sr)
                    .is_none_or(|tb| tb.numer.get() == 1 && tb.denom.get() == sr)
            }),
        _ => None,
    };
    let pcm_overclaims = match (pcm_block, header_frames) {
        (Some(block), Some(frames)) => frames.saturating_mul(block) > src.file_len,
        _ => false,
    };
    let count_all = src.mpeg_audio || src.adts || header_frames.is_none() || pcm_overclaims;

    // Decode the first packet(s): proves the data is audio and fills in missing parameters.
    // When counting, the same pass continues to the end without decoding.
    let mut tally = Tally::new(src.mpeg_audio, pcm_block);
    let mut pump = Pump::new(src.track_id());
    let mut decoded = false;
    let mut failures = 0u32;
    let mut first_error: Option<MediaError> = None;
    while let Some(packet) = pump.next(src.reader.as_mut(), deadline)? {
        tally.add(&packet);
        if !decoded {
            match decoder.decode(&packet) {
                Ok(buf) => {
                    if buf.frames() > 0 {
                        decoded = true;
                        let spec = buf.spec();
                        sample_rate = sample_rate.or(Some(spec.rate()).filter(|r| *r > 0));
                        channels = channels.or(Some(spec.channels().count()).filter(|c| *c > 0));
                    }
                }
                Err(SymError::DecodeError(msg)) => {
                    failures += 1;
                    first_error.get_or_insert_with(|| malformed(msg));
                }
                Err(SymError::IoError(_)) => failures += 1,
                Err(other) => return Err(from_symphonia(other)),
            }
            if !decoded && failures >= SNIFF_MAX_FAILURES {
                return Err(first_error.unwrap_or_else(no_audio));
            }
        }
        if decoded && !count_all {
            break;
        }
    }
    if !decoded {
        return Err(first_error.unwrap_or_else(no_audio));
    }
    let sample_rate = sample_rate.ok_or_else(|| malformed("the sample rate is missing"))?;
    let channels = channels.ok_or_else(|| malformed("the channel count is missing"))?;
    let tb = src.time_base(sample_rate);

    let frames = match header_frames {
        Some(stated) if !count_all => {
            // Trust the header only if the data really reaches the stated end.
            let start = u64::try_from(src.track.start_ts.get()).unwrap_or(0);
            let stated_ticks = match src.track.duration {
                Some(d) => d.get(),
                None => frames_to_ticks(stated, tb, sample_rate),
            };
            let expected_end = start.saturating_add(stated_ticks);
            if tail_reaches(&mut src, expected_end, sample_rate, deadline)? {
                stated
            } else {
                let mut fresh = open(path)?;
                ticks_to_frames(
                    count_ticks(&mut fresh, pcm_block, deadline)?,
                    tb,
                    sample_rate,
                )
            }
        }
        _ => {
            let counted = ticks_to_frames(tally.ticks(), tb, sample_rate);
            match header_frames {
                // Never report more than an exact header states (MP3: LAME/Xing count without
                // delay and padding; PCM: the data chunk length).
                Some(stated) if src.exact_header() => counted.min(stated),
                _ => counted,
            }
        }
    };

    if frames == 0 {
        return Err(no_audio());
    }
    let duration_ms =
        (u128::from(frames) * 1000 + u128::from(sample_rate) / 2) / u128::from(sample_rate);
    let duration_ms = i64::try_from(duration_ms).unwrap_or(i64::MAX);
    if duration_ms == 0 {
        return Err(no_audio());
    }

    let bitrate = match pcm_bits {
        Some(bits) => u64::from(sample_rate) * channels as u64 * u64::from(bits),
        None => {
            let bits = u128::from(src.file_len) * 8 * u128::from(sample_rate);
            u64::try_from(bits / u128::from(frames)).unwrap_or(u64::MAX)
        }
    };

    Ok(AudioInfo {
        duration_ms,
        frames,
        sample_rate,
        channels: u16::try_from(channels).unwrap_or(u16::MAX),
        bit_depth,
        codec,
        bitrate: u32::try_from(bitrate).ok().filter(|b| *b > 0),
        container: src.container.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// waveform
// ---------------------------------------------------------------------------------------------

/// Mono min/max peaks in the audiowaveform data format (8-bit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peaks {
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    /// Interleaved (min, max) pairs, each in -128..=127.
    pub data: Vec<i8>,
}

impl Peaks {
    /// audiowaveform JSON, format version 2.
    #[must_use]
    pub fn to_json(&self) -> String {
        use std::fmt::Write;

        let pairs = self.data.len() / 2;
        let mut out = String::with_capacity(128 + self.data.len() * 5);
        let _ = write!(
            out,
            "{{\"version\":2,\"channels\":1,\"sample_rate\":{},\"samples_per_pixel\":{},\
             \"bits\":8,\"length\":{},\"data\":[",
            self.sample_rate, self.samples_per_pixel, pairs
        );
        for (i, value) in self.data.iter().take(pairs * 2).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{value}");
        }
        out.push_str("]}");
        out
    }
}

fn to_i8(sample: f32) -> i8 {
    // NaN casts to 0; everything else is clamped into range first.
    (sample * 128.0).round().clamp(-128.0, 127.0) as i8
}

/// A sample type peaks are computed on: f32 as decoded, or integer PCM (no
/// per-sample conversion to float).
trait Sample: Copy + PartialOrd {
    const HIGHEST: Self;
    const LOWEST: Self;
    fn to_f32(self) -> f32;
}

impl Sample for f32 {
    const HIGHEST: Self = f32::INFINITY;
    const LOWEST: Self = f32::NEG_INFINITY;
    fn to_f32(self) -> f32 {
        self
    }
}

impl Sample for i16 {
    const HIGHEST: Self = i16::MAX;
    const LOWEST: Self = i16::MIN;
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl Sample for i32 {
    const HIGHEST: Self = i32::MAX;
    const LOWEST: Self = i32::MIN;
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// Minimum and maximum of float `samples`, ignoring NaN; (+inf, -inf) when
/// there is nothing else. Written as independent lanes with compare-and-select
/// so that f32 compiles to SIMD min/max (integers use `min_max_pcm`).
fn min_max<T: Sample>(samples: &[T]) -> (T, T) {
    const LANES: usize = 8;
    let mut min = [T::HIGHEST; LANES];
    let mut max = [T::LOWEST; LANES];
    let chunks = samples.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for ((lo, hi), &s) in min.iter_mut().zip(max.iter_mut()).zip(chunk) {
            *lo = if s < *lo { s } else { *lo };
            *hi = if s > *hi { s } else { *hi };
        }
    }
    for &s in rest {
        min[0] = if s < min[0] { s } else { min[0] };
        max[0] = if s > max[0] { s } else { max[0] };
    }
    let lo = min
        .iter()
        .fold(T::HIGHEST, |a, &b| if b < a { b } else { a });
    let hi = max
        .iter()
        .fold(T::LOWEST, |a, &b| if b > a { b } else { a });
    (lo, hi)
}

/// Integer PCM as decoded (16-bit WAV, FLAC and ALAC as full-scale i32).
trait Pcm: Sample + Ord + std::ops::Shr<u8, Output = Self> + std::ops::Add<Output = Self> {}

impl Pcm for i16 {}
impl Pcm for i32 {}

/// Minimum and maximum of integer samples: a plain fold, which the compiler
/// turns into SIMD min/max (integers have no NaN to keep in order).
fn min_max_pcm<T: Pcm>(samples: &[T]) -> (T, T) {
    samples
        .iter()
        .fold((T::HIGHEST, T::LOWEST), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        })
}

/// Minimum and maximum of the mid signal of stereo, `a/2 + b/2`, in one pass
/// over both channels without writing the mono signal anywhere. Halving each
/// channel first keeps the sum inside the sample type; it differs from
/// `(a + b) / 2` by at most one step of the format, far below the 1/128
/// steps of the peaks.
fn min_max_mid<T: Pcm>(a: &[T], b: &[T]) -> (T, T) {
    a.iter()
        .zip(b)
        .map(|(&l, &r)| (l >> 1) + (r >> 1))
        .fold((T::HIGHEST, T::LOWEST), |(lo, hi), s| {
            (lo.min(s), hi.max(s))
        })
}

/// Mono or stereo integer PCM into the peaks: min and max straight from the
/// decoded planes (the first `frames` of each), scaled by `scale` to ±1.
fn push_pcm<T: Pcm>(
    peaks: &mut PeakAccumulator,
    first: &[T],
    second: Option<&[T]>,
    frames: usize,
    scale: f32,
) {
    let first = &first[..frames.min(first.len())];
    match second {
        None => peaks.push_with(first.len(), scale, |r| min_max_pcm(&first[r])),
        Some(second) => {
            // A shorter plane (never from a sane decoder) ends the frame early.
            let len = first.len().min(second.len());
            peaks.push_with(len, scale, |r| min_max_mid(&first[r.clone()], &second[r]));
        }
    }
}

/// Streaming min/max over buckets of `spp` mono samples.
struct PeakAccumulator {
    spp: usize,
    filled: usize,
    min: f32,
    max: f32,
    frames: u64,
    data: Vec<i8>,
}

impl PeakAccumulator {
    fn new(spp: u32, expected_frames: Option<u64>) -> Self {
        let spp = usize::try_from(spp.max(1)).unwrap_or(usize::MAX);
        // Reserve for the expected length, but never trust a header with a huge allocation.
        let pairs = expected_frames
            .map_or(0, |f| f / spp as u64 + 1)
            .min(4 * 1024 * 1024);
        PeakAccumulator {
            spp,
            filled: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            frames: 0,
            data: Vec::with_capacity(usize::try_from(pairs * 2).unwrap_or(0)),
        }
    }

    fn push(&mut self, samples: &[f32]) {
        self.push_scaled((samples, 1.0));
    }

    /// Samples that become true values once multiplied by `factor` (> 0).
    fn push_scaled<T: Sample>(&mut self, (samples, factor): (&[T], f32)) {
        self.push_with(samples.len(), factor, |range| min_max(&samples[range]));
    }

    /// `len` mono samples whose minimum and maximum over a range of them
    /// `min_max_of` gives, as values that become true ones once multiplied by
    /// `factor` (> 0).
    fn push_with<T: Sample>(
        &mut self,
        len: usize,
        factor: f32,
        mut min_max_of: impl FnMut(std::ops::Range<usize>) -> (T, T),
    ) {
        self.frames += len as u64;
        let mut at = 0;
        while at < len {
            let room = (self.spp - self.filled).min(len - at);
            // (A stretch of NaNs gives +inf/-inf, which leave the bucket as it was.)
            let (min, max) = min_max_of(at..at + room);
            let (min, max) = (min.to_f32() * factor, max.to_f32() * factor);
            self.min = self.min.min(min);
            self.max = self.max.max(max);
            self.filled += room;
            if self.filled == self.spp {
                self.flush();
            }
            at += room;
        }
    }

    fn flush(&mut self) {
        if self.min <= self.max {
            self.data.push(to_i8(self.min));
            self.data.push(to_i8(self.max));
        } else {
            // Only NaNs in this bucket.
            self.data.extend_from_slice(&[0, 0]);
        }
        self.filled = 0;
        self.min = f32::INFINITY;
        self.max = f32::NEG_INFINITY;
    }

    fn finish(mut self) -> (Vec<i8>, u64) {
        if self.filled > 0 {
            self.flush();
        }
        (self.data, self.frames)
    }
}

/// Sums the first `frames` samples of each plane into `mono`, converting each
/// sample with `convert`; returns the sum and the factor (`scale` / planes)
/// that turns it into the average. The factor is applied to each bucket's
/// min and max, not to every sample (it is positive, so order is kept).
fn mix_to_mono<'a, T: Copy + 'a, S: Sample + Default + std::ops::AddAssign>(
    planes: impl Iterator<Item = &'a [T]>,
    frames: usize,
    scale: f32,
    convert: impl Fn(T) -> S,
    mono: &mut Vec<S>,
) -> (&[S], f32) {
    mono.clear();
    let mut count = 0u32;
    for plane in planes {
        let plane = &plane[..frames.min(plane.len())];
        if count == 0 {
            mono.extend(plane.iter().map(|s| convert(*s)));
        } else {
            for (m, s) in mono.iter_mut().zip(plane) {
                *m += convert(*s);
            }
        }
        count += 1;
    }
    mono.resize(frames, S::default());
    (mono, scale / count.max(1) as f32)
}

/// Merges fine pairs so that at most `points` pairs remain.
fn overview_of(fine: &Peaks, points: u32) -> Peaks {
    let pairs = fine.data.len() / 2;
    let points = usize::try_from(points.max(1)).unwrap_or(usize::MAX);
    let factor = pairs.div_ceil(points).max(1);
    let data = fine
        .data
        .chunks(factor.saturating_mul(2))
        .flat_map(|group| {
            let min = group.iter().step_by(2).copied().min().unwrap_or(0);
            let max = group.iter().skip(1).step_by(2).copied().max().unwrap_or(0);
            [min, max]
        })
        .collect();
    Peaks {
        sample_rate: fine.sample_rate,
        samples_per_pixel: fine
            .samples_per_pixel
            .saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX)),
        data,
    }
}

/// Reports whole percentages, each at most once, in increasing order.
struct Progress<'a> {
    callback: &'a mut dyn FnMut(u8),
    total: Option<u64>,
    last: u8,
}

impl<'a> Progress<'a> {
    fn start(callback: &'a mut dyn FnMut(u8), total: Option<u64>) -> Self {
        callback(0);
        Progress {
            callback,
            total: total.filter(|t| *t > 0),
            last: 0,
        }
    }

    fn update(&mut self, done: u64) {
        if let Some(total) = self.total {
            let pct = (u128::from(done) * 100 / u128::from(total)).min(99);
            let pct = u8::try_from(pct).unwrap_or(99);
            if pct > self.last {
                self.last = pct;
                (self.callback)(pct);
            }
        }
    }

    fn finish(self) {
        (self.callback)(100);
    }
}

/// Decodes the whole file and returns (overview, fine) mono peaks. `fine_spp` frames make one
/// fine pair; the overview has at most `overview_points` pairs. Memory use is independent of
/// the file's length apart from the fine peak array. `progress` receives 0 first, increasing
/// whole percentages while decoding (when the length is known up front), and 100 on success.
///
/// # Errors
///
/// As for [`probe`]; additionally [`MediaError::Malformed`] when more than half of the audio
/// packets fail to decode.
pub fn waveform(
    path: &Path,
    fine_spp: u32,
    overview_points: u32,
    deadline: Instant,
    progress: &mut dyn FnMut(u8),
) -> Result<(Peaks, Peaks), MediaError> {
    guard(|| waveform_inner(path, fine_spp, overview_points, deadline, progress))
}

fn waveform_inner(
    path: &Path,
    fine_spp: u32,
    overview_points: u32,
    deadline: Instant,
    progress: &mut dyn FnMut(u8),
) -> Result<(Peaks, Peaks), MediaError> {
    let fine_spp = fine_spp.max(1);
    check_deadline(deadline)?;
    let mut src = open(path)?;
    let mut decoder = make_decoder(&src.params, !src.untrusted_trim())?;

    let mut sample_rate = src
        .params
        .sample_rate
        .or(decoder.codec_params().sample_rate)
        .filter(|r| *r > 0);
    let total = sample_rate.and_then(|sr| src.header_frames(sr));

    let mut peaks = PeakAccumulator::new(fine_spp, total);
    let mut report = Progress::start(progress, total);
    let mut planes: Vec<Vec<f32>> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut mono_i32: Vec<i32> = Vec::new();
    let mut pump = Pump::new(src.track_id());
    let mut failed = 0u64;
    let mut first_error: Option<MediaError> = None;

    while let Some(packet) = pump.next(src.reader.as_mut(), deadline)? {
        // Frames the container says this packet plays (MP4 marks the AAC padding of the last
        // packet only this way). MP3 packet durations are not usable (see the module notes).
        let playable = match (src.mpeg_audio, sample_rate) {
            (false, Some(sr)) if !packet.dur.is_zero() => {
                Some(ticks_to_frames(packet.dur.get(), src.time_base(sr), sr))
            }
            _ => None,
        };
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(msg)) => {
                failed += 1;
                first_error.get_or_insert_with(|| malformed(msg));
                continue;
            }
            Err(SymError::IoError(_)) => {
                failed += 1;
                continue;
            }
            Err(other) => return Err(from_symphonia(other)),
        };
        if buf.frames() == 0 || buf.num_planes() == 0 {
            continue;
        }
        if sample_rate.is_none() {
            sample_rate = Some(buf.spec().rate()).filter(|r| *r > 0);
        }

        let frames = playable.map_or(buf.frames(), |p| {
            buf.frames().min(usize::try_from(p).unwrap_or(usize::MAX))
        });
        match &buf {
            // Most lossy decoders produce f32 already: read their planes in place.
            GenericAudioBufferRef::F32(audio) if audio.num_planes() == 1 => {
                if let Some(plane) = audio.plane(0) {
                    peaks.push(&plane[..frames.min(plane.len())]);
                }
            }
            GenericAudioBufferRef::F32(audio) => {
                peaks.push_scaled(mix_to_mono(
                    audio.iter_planes(),
                    frames,
                    1.0,
                    |s| s,
                    &mut mono,
                ));
            }
            // Mono and stereo integer PCM (nearly every WAV, FLAC and ALAC):
            // integer min and max per bucket, no mono signal written.
            GenericAudioBufferRef::S16(audio) if audio.num_planes() <= 2 => push_pcm(
                &mut peaks,
                audio.plane(0).unwrap_or_default(),
                audio.plane(1),
                frames,
                1.0 / 32_768.0,
            ),
            GenericAudioBufferRef::S32(audio) if audio.num_planes() <= 2 => push_pcm(
                &mut peaks,
                audio.plane(0).unwrap_or_default(),
                audio.plane(1),
                frames,
                1.0 / 2_147_483_648.0,
            ),
            // More channels: FLAC and ALAC decode to full-scale i32, PCM WAV
            // mostly to i16.
            GenericAudioBufferRef::S32(audio) => {
                let scale = 1.0 / 2_147_483_648.0;
                peaks.push_scaled(mix_to_mono(
                    audio.iter_planes(),
                    frames,
                    scale,
                    |s| s as f32,
                    &mut mono,
                ));
            }
            // Other 16-bit PCM: sum the channels as integers; only each
            // bucket's min and max become floats.
            GenericAudioBufferRef::S16(audio) => {
                let scale = 1.0 / 32_768.0;
                let (mono, factor) =
                    mix_to_mono(audio.iter_planes(), frames, scale, i32::from, &mut mono_i32);
                peaks.push_with(mono.len(), factor, |r| min_max_pcm(&mono[r]));
            }
            other => {
                other.copy_to_vecs_planar::<f32>(&mut planes);
                let used = planes.iter().take(other.num_planes()).map(Vec::as_slice);
                peaks.push_scaled(mix_to_mono(used, frames, 1.0, |s| s, &mut mono));
            }
        }
        report.update(peaks.frames);
    }

    let packets = pump.packets;
    if packets > 0 && failed.saturating_mul(2) > packets {
        let detail = match first_error {
            Some(MediaError::Malformed(msg)) => format!(" ({msg})"),
            _ => String::new(),
        };
        return Err(malformed(format!(
            "{failed} of {packets} audio packets could not be decoded{detail}"
        )));
    }
    let (data, frames) = peaks.finish();
    if frames == 0 {
        return Err(first_error.unwrap_or_else(no_audio));
    }
    let sample_rate = sample_rate.ok_or_else(|| malformed("the sample rate is missing"))?;

    let fine = Peaks {
        sample_rate,
        samples_per_pixel: fine_spp,
        data,
    };
    let overview = overview_of(&fine, overview_points);
    report.finish();
    Ok((overview, fine))
}

// ---------------------------------------------------------------------------------------------
// Preview
// ---------------------------------------------------------------------------------------------

/// Bitrate of previews: constant, so browsers seek them exactly with byte ranges.
pub const PREVIEW_KBPS: u32 = 128;

fn encode_error(e: impl fmt::Display) -> MediaError {
    MediaError::Io(std::io::Error::other(format!("encoding the preview: {e}")))
}

/// Decodes the whole file and writes a constant-bitrate MP3 preview (mono or
/// stereo; more channels keep the first two) to `out`, streaming: memory does
/// not grow with the file's length. Returns the bytes written.
///
/// # Errors
///
/// As for [`waveform`].
pub fn preview(
    path: &Path,
    out: &Path,
    deadline: Instant,
    progress: &mut dyn FnMut(u8),
) -> Result<u64, MediaError> {
    guard(|| preview_inner(path, out, deadline, progress))
}

fn preview_inner(
    path: &Path,
    out: &Path,
    deadline: Instant,
    progress: &mut dyn FnMut(u8),
) -> Result<u64, MediaError> {
    use std::io::Write;

    use mp3lame_encoder::{Bitrate, Builder, DualPcm, FlushNoGap, MonoPcm, Quality};

    check_deadline(deadline)?;
    let mut src = open(path)?;
    let mut decoder = make_decoder(&src.params, !src.untrusted_trim())?;
    let mut pump = Pump::new(src.track_id());
    let mut planes: Vec<Vec<f32>> = Vec::new();
    let mut encoder: Option<mp3lame_encoder::Encoder> = None;
    let mut stereo = false;
    let mut mp3: Vec<u8> = Vec::new();
    let mut file = std::io::BufWriter::with_capacity(256 * 1024, File::create(out)?);
    let mut written = 0u64;
    let mut frames_done = 0u64;
    let sample_rate = src.params.sample_rate.filter(|r| *r > 0);
    let total = sample_rate.and_then(|sr| src.header_frames(sr));
    let mut report = Progress::start(progress, total);
    let (mut packets, mut failed) = (0u64, 0u64);

    while let Some(packet) = pump.next(src.reader.as_mut(), deadline)? {
        packets += 1;
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                failed += 1;
                continue;
            }
            Err(other) => return Err(from_symphonia(other)),
        };
        if buf.frames() == 0 || buf.num_planes() == 0 {
            continue;
        }
        let enc = match &mut encoder {
            Some(e) => e,
            None => {
                stereo = buf.num_planes() >= 2;
                let mut b = Builder::new().ok_or_else(|| encode_error("LAME did not start"))?;
                b.set_num_channels(if stereo { 2 } else { 1 })
                    .map_err(encode_error)?;
                b.set_sample_rate(buf.spec().rate()).map_err(encode_error)?;
                b.set_brate(Bitrate::Kbps128).map_err(encode_error)?;
                b.set_quality(Quality::Good).map_err(encode_error)?;
                encoder.insert(b.build().map_err(encode_error)?)
            }
        };
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        let n = buf.frames();
        mp3.clear();
        mp3.reserve(mp3lame_encoder::max_required_buffer_size(n));
        if stereo {
            let input = DualPcm {
                left: &planes[0][..n],
                right: &planes[1][..n],
            };
            enc.encode_to_vec(input, &mut mp3).map_err(encode_error)?;
        } else {
            enc.encode_to_vec(MonoPcm(&planes[0][..n]), &mut mp3)
                .map_err(encode_error)?;
        }
        file.write_all(&mp3)?;
        written += mp3.len() as u64;
        frames_done += n as u64;
        report.update(frames_done);
    }
    if packets > 0 && failed.saturating_mul(2) > packets {
        return Err(malformed(format!(
            "{failed} of {packets} audio packets could not be decoded"
        )));
    }
    let Some(mut enc) = encoder else {
        return Err(no_audio());
    };
    mp3.clear();
    mp3.reserve(7200);
    enc.flush_to_vec::<FlushNoGap>(&mut mp3)
        .map_err(encode_error)?;
    file.write_all(&mp3)?;
    written += mp3.len() as u64;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    report.finish();
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "wavekeep-analyze-{tag}-{}-{n}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn have_ffmpeg() -> bool {
        let ok = Command::new("ffmpeg")
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        // scripts/test installs ffmpeg and sets this: there, a skip would hide a failure.
        assert!(
            ok || std::env::var_os("WAVEKEEP_TEST_REQUIRE_CLIENTS").is_none(),
            "ffmpeg is required (WAVEKEEP_TEST_REQUIRE_CLIENTS is set)"
        );
        if !ok {
            eprintln!("ffmpeg not found; skipping test");
        }
        ok
    }

    /// Runs ffmpeg with `args` followed by the output path.
    fn ffmpeg(args: &[&str], out: &Path) {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .arg(out)
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg failed for {}", out.display());
    }

    /// Writes `seconds` of a 440 Hz sine (ffmpeg's default amplitude 1/8) encoded with `extra`.
    fn make(path: &Path, seconds: f64, extra: &[&str]) {
        let source = format!("sine=frequency=440:duration={seconds}");
        let mut args = vec!["-f", "lavfi", "-i", source.as_str()];
        args.extend_from_slice(extra);
        ffmpeg(&args, path);
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(120)
    }

    /// Generates a file from a 440 Hz sine and checks what `probe` reports about it.
    #[allow(clippy::too_many_arguments)]
    fn check_format(
        name: &str,
        seconds: f64,
        extra: &[&str],
        sample_rate: u32,
        channels: u16,
        codec: &str,
        container: &str,
        bit_depth: Option<u16>,
    ) -> AudioInfo {
        let dir = TempDir::new("fmt");
        let path = dir.file(name);
        make(&path, seconds, extra);

        let info = probe(&path, later()).unwrap();
        eprintln!("{name}: {info:?}");
        let got = info.duration_ms as f64 / 1000.0;
        assert!(
            (got - seconds).abs() < 0.1,
            "{name}: duration {got} s, expected {seconds} s"
        );
        assert_eq!(info.sample_rate, sample_rate, "{name}");
        assert_eq!(info.channels, channels, "{name}");
        assert_eq!(info.codec, codec, "{name}");
        assert_eq!(info.container, container, "{name}");
        assert_eq!(info.bit_depth, bit_depth, "{name}");
        assert!(info.bitrate.is_some_and(|b| b > 0), "{name}: bitrate");
        let frames_ms = info.frames as f64 * 1000.0 / f64::from(info.sample_rate);
        assert!(
            (frames_ms - info.duration_ms as f64).abs() <= 1.0,
            "{name}: frames vs ms"
        );
        info
    }

    #[test]
    fn mp3_cbr() {
        if !have_ffmpeg() {
            return;
        }
        let info = check_format(
            "cbr.mp3",
            7.3,
            &["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"],
            44100,
            2,
            "mp3",
            "mp3",
            None,
        );
        let kbps = info.bitrate.unwrap_or(0) / 1000;
        assert!((120..=140).contains(&kbps), "bitrate {kbps} kbit/s");
    }

    #[test]
    fn mp3_vbr_without_xing_header() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "vbr.mp3",
            7.3,
            &["-c:a", "libmp3lame", "-q:a", "4", "-write_xing", "0"],
            44100,
            1,
            "mp3",
            "mp3",
            None,
        );
    }

    #[test]
    fn mp3_vbr_with_lame_tag_is_gapless() {
        if !have_ffmpeg() {
            return;
        }
        let info = check_format(
            "lame.mp3",
            7.3,
            &["-c:a", "libmp3lame", "-q:a", "4"],
            44100,
            1,
            "mp3",
            "mp3",
            None,
        );
        // Encoder delay and padding are removed: exact to a few samples.
        assert!(
            info.frames.abs_diff(321_930) < 100,
            "frames {}",
            info.frames
        );
    }

    #[test]
    fn mp3_at_48k_stereo() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "48k.mp3",
            3.05,
            &[
                "-ar",
                "48000",
                "-ac",
                "2",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "192k",
                "-write_xing",
                "0",
            ],
            48000,
            2,
            "mp3",
            "mp3",
            None,
        );
    }

    #[test]
    fn flac_24_bit() {
        if !have_ffmpeg() {
            return;
        }
        let info = check_format(
            "x.flac",
            7.3,
            &[
                "-ac",
                "2",
                "-sample_fmt",
                "s32",
                "-bits_per_raw_sample",
                "24",
                "-c:a",
                "flac",
            ],
            44100,
            2,
            "flac",
            "flac",
            Some(24),
        );
        assert_eq!(info.frames, 321_930);
    }

    #[test]
    fn wav_16_bit_stereo() {
        if !have_ffmpeg() {
            return;
        }
        let info = check_format(
            "x.wav",
            7.3,
            &["-ac", "2", "-c:a", "pcm_s16le"],
            44100,
            2,
            "pcm_s16le",
            "wav",
            Some(16),
        );
        assert_eq!(info.frames, 321_930);
        assert_eq!(info.bitrate, Some(44100 * 2 * 16));
    }

    #[test]
    fn wav_float_and_24_bit() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "f.wav",
            2.5,
            &["-c:a", "pcm_f32le"],
            44100,
            1,
            "pcm_f32le",
            "wav",
            Some(32),
        );
        check_format(
            "s24.wav",
            2.5,
            &["-ar", "96000", "-c:a", "pcm_s24le"],
            96000,
            1,
            "pcm_s24le",
            "wav",
            Some(24),
        );
    }

    #[test]
    fn ogg_vorbis() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "x.ogg",
            7.3,
            &["-ac", "2", "-c:a", "libvorbis", "-q:a", "4"],
            44100,
            2,
            "vorbis",
            "ogg",
            None,
        );
    }

    #[test]
    fn m4a_aac() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "x.m4a",
            7.3,
            &["-ac", "2", "-c:a", "aac", "-b:a", "128k"],
            44100,
            2,
            "aac",
            "mp4",
            None,
        );
    }

    #[test]
    fn adts_aac() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "x.aac",
            4.2,
            &["-c:a", "aac", "-b:a", "96k"],
            44100,
            1,
            "aac",
            "adts",
            None,
        );
    }

    #[test]
    fn m4a_alac() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "alac.m4a",
            7.3,
            &["-ac", "2", "-c:a", "alac"],
            44100,
            2,
            "alac",
            "mp4",
            Some(16),
        );
    }

    #[test]
    fn other_containers() {
        if !have_ffmpeg() {
            return;
        }
        check_format(
            "x.webm",
            3.3,
            &["-c:a", "libvorbis"],
            44100,
            1,
            "vorbis",
            "mkv",
            None,
        );
        check_format(
            "x.mka",
            3.3,
            &["-ac", "2", "-c:a", "flac"],
            44100,
            2,
            "flac",
            "mkv",
            Some(16),
        );
        check_format(
            "frag.m4a",
            3.3,
            &["-c:a", "aac", "-movflags", "frag_keyframe+empty_moov"],
            44100,
            1,
            "aac",
            "mp4",
            None,
        );
        check_format(
            "x.aiff",
            3.3,
            &["-c:a", "pcm_s16be"],
            44100,
            1,
            "pcm_s16be",
            "aiff",
            Some(16),
        );

        // Written to a pipe: the WAV data length and FLAC sample count are unknown.
        let dir = TempDir::new("pipe");
        for (name, format, rate) in [("pipe.wav", "wav", 8000u32), ("pipe.flac", "flac", 44100)] {
            let path = dir.file(name);
            let out = std::fs::File::create(&path).unwrap();
            let rate_arg = rate.to_string();
            let status = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
                .args([
                    "sine=frequency=440:duration=3.3",
                    "-ar",
                    &rate_arg,
                    "-f",
                    format,
                ])
                .arg("pipe:1")
                .stdout(out)
                .status()
                .unwrap();
            assert!(status.success());
            let info = probe(&path, later()).unwrap();
            eprintln!("{name}: {info:?}");
            assert_eq!(info.frames, u64::from(rate) * 33 / 10, "{name}");
        }
    }

    // --- damaged and bogus input ------------------------------------------------------------

    /// Deterministic pseudo-random bytes (xorshift).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    fn assert_err(path: &Path) -> MediaError {
        let err = probe(path, later()).expect_err("probe should fail");
        eprintln!("{}: {err}", path.display());
        assert!(!matches!(err, MediaError::TimedOut));
        let mut calls = 0;
        let wf = waveform(path, 256, 100, later(), &mut |_| calls += 1);
        assert!(wf.is_err(), "waveform should fail for {}", path.display());
        err
    }

    #[test]
    fn bogus_inputs_are_errors() {
        let dir = TempDir::new("bogus");

        let empty = dir.file("empty.mp3");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(assert_err(&empty), MediaError::Malformed(_)));

        let html = dir.file("page.mp3");
        let page = "<!DOCTYPE html><html><head><title>Not audio</title></head><body>".to_string()
            + &"<p>Hello there, this is a web page.</p>\n".repeat(500)
            + "</body></html>";
        std::fs::write(&html, page).unwrap();
        assert!(matches!(assert_err(&html), MediaError::Unsupported(_)));

        for (i, ext) in ["mp3", "wav", "flac", "ogg", "m4a", "aac", "bin"]
            .iter()
            .enumerate()
        {
            for (j, len) in [10usize, 4096, 300_000].iter().enumerate() {
                let path = dir.file(&format!("noise{i}{j}.{ext}"));
                std::fs::write(
                    &path,
                    noise(*len, 0x9E37_79B9_7F4A_7C15 + (i * 3 + j) as u64),
                )
                .unwrap();
                assert_err(&path);
            }
        }

        let text = dir.file("short.wav");
        std::fs::write(&text, b"RIFF").unwrap();
        assert_err(&text);

        if have_ffmpeg() {
            // Opus is a real audio format, but symphonia has no decoder for it.
            let opus = dir.file("x.opus");
            ffmpeg(
                &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libopus"],
                &opus,
            );
            let err = assert_err(&opus);
            assert!(
                matches!(err, MediaError::Unsupported(ref d) if d.contains("opus")),
                "{err}"
            );

            // A video file without audio.
            let video = dir.file("video.mp4");
            ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=duration=1:size=64x64",
                    "-c:v",
                    "mpeg4",
                ],
                &video,
            );
            assert!(matches!(assert_err(&video), MediaError::Unsupported(_)));

            // MP3 frames whose payload is noise: the headers parse, the audio does not decode.
            let good = dir.file("good.mp3");
            make(
                &good,
                3.0,
                &["-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0"],
            );
            let mut bytes = std::fs::read(&good).unwrap();
            let junk = noise(bytes.len(), 7);
            let mut i = 0;
            while i + 4 < bytes.len() {
                // Keep frame headers (sync word 0xFFE), scramble everything else.
                if bytes[i] == 0xFF && bytes[i + 1] & 0xE0 == 0xE0 {
                    i += 4;
                } else {
                    bytes[i] = junk[i];
                    i += 1;
                }
            }
            let scrambled = dir.file("scrambled.mp3");
            std::fs::write(&scrambled, &bytes).unwrap();
            // probe only decodes the first packets, so it may accept this; waveform must not.
            match probe(&scrambled, later()) {
                Err(err) => eprintln!("scrambled mp3: {err}"),
                Ok(info) => eprintln!("scrambled mp3 probed as {info:?}"),
            }
            let err = waveform(&scrambled, 256, 10, later(), &mut |_| {}).expect_err("scrambled");
            eprintln!("scrambled mp3 waveform: {err}");
            assert!(matches!(err, MediaError::Malformed(_)));
        }

        let missing = dir.file("does-not-exist.mp3");
        assert!(matches!(probe(&missing, later()), Err(MediaError::Io(_))));
    }

    fn wav_header(data_len: u32, riff_len: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&riff_len.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes()); // PCM
        h.extend_from_slice(&2u16.to_le_bytes()); // channels
        h.extend_from_slice(&44100u32.to_le_bytes());
        h.extend_from_slice(&(44100u32 * 4).to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes()); // block align
        h.extend_from_slice(&16u16.to_le_bytes()); // bits
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        h
    }

    #[test]
    fn wav_header_claiming_4gb() {
        let dir = TempDir::new("wav4g");

        // Half a second of a 1 kHz square wave behind a header that claims ~4 GB.
        let mut bytes = wav_header(0xFFFF_FF00, 0xFFFF_FFF0);
        for i in 0..22050u32 {
            let v: i16 = if (i / 22) % 2 == 0 { 8000 } else { -8000 };
            for _ in 0..2 {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        let path = dir.file("liar.wav");
        std::fs::write(&path, &bytes).unwrap();
        let info = probe(&path, later()).unwrap();
        assert_eq!(info.frames, 22050);
        assert_eq!(info.duration_ms, 500);
        let (_, fine) = waveform(&path, 441, 10, later(), &mut |_| {}).unwrap();
        assert_eq!(fine.data.len() / 2, 50);

        // The same header with no data at all.
        let path = dir.file("liar-empty.wav");
        std::fs::write(&path, wav_header(0xFFFF_FF00, 0xFFFF_FFF0)).unwrap();
        assert!(matches!(assert_err(&path), MediaError::Malformed(_)));

        // A header claiming 4 GB and only a few bytes of data (less than one frame).
        let mut tiny = wav_header(0xFFFF_FF00, 0xFFFF_FFF0);
        tiny.extend_from_slice(&[1, 2, 3]);
        let path = dir.file("liar-tiny.wav");
        std::fs::write(&path, tiny).unwrap();
        assert_err(&path);
    }

    fn truncate_copy(src: &Path, dst: &Path, fraction: f64) -> usize {
        let bytes = std::fs::read(src).unwrap();
        let keep = (bytes.len() as f64 * fraction) as usize;
        std::fs::write(dst, &bytes[..keep]).unwrap();
        keep
    }

    fn seconds(info: &AudioInfo) -> f64 {
        info.duration_ms as f64 / 1000.0
    }

    #[test]
    fn truncated_files_report_the_shorter_length() {
        if !have_ffmpeg() {
            return;
        }
        let dir = TempDir::new("trunc");
        let cases: &[(&str, &[&str])] = &[
            (
                "cbr.mp3",
                &["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"],
            ),
            ("lame.mp3", &["-c:a", "libmp3lame", "-q:a", "2"]),
            (
                "vbr.mp3",
                &["-c:a", "libmp3lame", "-q:a", "4", "-write_xing", "0"],
            ),
            (
                "x.flac",
                &[
                    "-sample_fmt",
                    "s32",
                    "-bits_per_raw_sample",
                    "24",
                    "-c:a",
                    "flac",
                ],
            ),
            ("x.ogg", &["-c:a", "libvorbis", "-q:a", "4"]),
            (
                "fast.m4a",
                &["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"],
            ),
            (
                "fast-alac.m4a",
                &["-c:a", "alac", "-movflags", "+faststart"],
            ),
            ("x.aac", &["-c:a", "aac", "-b:a", "128k"]),
        ];
        for (name, extra) in cases {
            let full = dir.file(name);
            make(&full, 10.0, extra);
            let cut = dir.file(&format!("cut-{name}"));
            truncate_copy(&full, &cut, 0.5);
            let info = match probe(&cut, later()) {
                Ok(info) => info,
                // symphonia cannot read an MP4 whose 'mdat' box is cut short at all.
                Err(err) if name.ends_with(".m4a") => {
                    eprintln!("truncated {name}: {err}");
                    assert!(matches!(err, MediaError::Malformed(_)));
                    continue;
                }
                Err(err) => panic!("truncated {name}: {err}"),
            };
            let decodable = plain_decode(&cut) as f64 / f64::from(info.sample_rate);
            eprintln!("truncated {name}: {info:?}, decodable {decodable} s");
            let got = seconds(&info);
            assert!((2.5..7.0).contains(&got), "truncated {name}: {got} s");
            assert!(
                (got - decodable).abs() < 0.1,
                "truncated {name}: {got} vs {decodable} s"
            );

            // The waveform covers the same length.
            let (_, fine) = waveform(&cut, 441, 100, later(), &mut |_| {}).unwrap();
            let covered = (fine.data.len() / 2) as f64 * 0.01;
            assert!(
                (covered - got).abs() < 0.15,
                "truncated {name}: waveform {covered} s"
            );
        }

        // PCM WAV cut at an odd byte: exactly the whole frames present.
        let full = dir.file("x.wav");
        make(&full, 10.0, &["-ac", "2", "-c:a", "pcm_s16le"]);
        let bytes = std::fs::read(&full).unwrap();
        let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
        let keep = data + 4 * 123_457 + 3;
        let cut = dir.file("cut.wav");
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let info = probe(&cut, later()).unwrap();
        assert_eq!(info.frames, 123_457);

        // An MP4 whose index ('moov') was at the end is unreadable once cut.
        let tail_moov = dir.file("tail.m4a");
        make(&tail_moov, 10.0, &["-c:a", "aac"]);
        let cut = dir.file("cut-tail.m4a");
        truncate_copy(&tail_moov, &cut, 0.5);
        let err = probe(&cut, later()).expect_err("mp4 without its index");
        eprintln!("mp4 without moov: {err}");
        assert!(matches!(err, MediaError::Malformed(_)));
    }

    // --- waveform -----------------------------------------------------------------------------

    #[test]
    fn waveform_of_a_sine_is_symmetric() {
        const QUAD: &str = "asplit=4[a][b][c][d];[a][b][c][d]amerge=inputs=4";
        if !have_ffmpeg() {
            return;
        }
        let dir = TempDir::new("wave");
        for (name, extra) in [
            ("s.wav", &["-c:a", "pcm_s16le"][..]),
            ("s.flac", &["-c:a", "flac"][..]),
            ("s.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"][..]),
            ("s.ogg", &["-c:a", "libvorbis"][..]),
            ("s.m4a", &["-c:a", "aac", "-b:a", "192k"][..]),
            ("alac.m4a", &["-c:a", "alac"][..]),
            ("alac24.m4a", &["-c:a", "alac", "-sample_fmt", "s32p"][..]),
            (
                "s24.flac",
                &[
                    "-sample_fmt",
                    "s32",
                    "-bits_per_raw_sample",
                    "24",
                    "-c:a",
                    "flac",
                ][..],
            ),
            ("s24.wav", &["-c:a", "pcm_s24le"][..]),
            // More than two channels (the sine in each): the mixed paths.
            ("quad.wav", &["-af", QUAD, "-c:a", "pcm_s16le"][..]),
            ("quad.flac", &["-af", QUAD, "-c:a", "flac"][..]),
            ("u8.wav", &["-c:a", "pcm_u8"][..]),
            ("f64.wav", &["-c:a", "pcm_f64le"][..]),
        ] {
            let path = dir.file(name);
            make(&path, 2.0, extra);
            let info = probe(&path, later()).unwrap();
            let mut calls = Vec::new();
            let (overview, fine) =
                waveform(&path, 256, 100, later(), &mut |p| calls.push(p)).unwrap();

            let pairs = fine.data.len() / 2;
            let expected = info.frames.div_ceil(256) as usize;
            assert!(
                pairs.abs_diff(expected) <= 1,
                "{name}: {pairs} pairs, expected {expected}"
            );
            assert_eq!(fine.sample_rate, 44100);
            assert_eq!(fine.samples_per_pixel, 256);

            // Amplitude 1/8 -> about 16 of 128; skip the edges (fade-in/out of lossy codecs).
            let inner = &fine.data[20..fine.data.len() - 20];
            let max = inner.iter().skip(1).step_by(2).copied().max().unwrap();
            let min = inner.iter().step_by(2).copied().min().unwrap();
            eprintln!("{name}: {pairs} pairs, min {min} max {max}");
            assert!((14..=18).contains(&max), "{name}: max {max}");
            assert!((-18..=-14).contains(&min), "{name}: min {min}");
            assert!(
                (i32::from(max) + i32::from(min)).abs() <= 1,
                "{name}: not symmetric"
            );
            for pair in inner.chunks(2) {
                assert!(pair[0] < 0 && pair[1] > 0, "{name}: flat bucket {pair:?}");
            }

            // Overview: at most 100 pairs, merged by ceil(pairs / 100).
            let factor = pairs.div_ceil(100);
            assert_eq!(overview.samples_per_pixel as usize, 256 * factor);
            assert_eq!(overview.data.len() / 2, pairs.div_ceil(factor));
            assert!(overview.data.len() / 2 <= 100);

            // Progress: starts at 0, ends at 100, increasing, bounded.
            assert_eq!(calls.first(), Some(&0), "{name}");
            assert_eq!(calls.last(), Some(&100), "{name}");
            assert!(calls.windows(2).all(|w| w[0] < w[1]), "{name}: {calls:?}");
            assert!(calls.len() <= 101);
        }
    }

    #[test]
    fn waveform_mixes_channels_to_mono() {
        if !have_ffmpeg() {
            return;
        }
        let dir = TempDir::new("mix");
        let opposite = dir.file("opposite.wav");
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "aevalsrc=0.5*sin(440*2*PI*t)|-0.5*sin(440*2*PI*t):s=44100:d=1",
                "-c:a",
                "pcm_s16le",
            ],
            &opposite,
        );
        let (_, fine) = waveform(&opposite, 512, 10, later(), &mut |_| {}).unwrap();
        assert!(
            fine.data.iter().all(|v| v.abs() <= 1),
            "{:?}",
            &fine.data[..10]
        );

        let left_only = dir.file("left.wav");
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "aevalsrc=0.5*sin(440*2*PI*t)|0:s=44100:d=1",
                "-c:a",
                "pcm_s16le",
            ],
            &left_only,
        );
        let (_, fine) = waveform(&left_only, 512, 10, later(), &mut |_| {}).unwrap();
        let max = fine.data.iter().copied().max().unwrap();
        let min = fine.data.iter().copied().min().unwrap();
        assert_eq!((min, max), (-32, 32));
    }

    #[test]
    fn peaks_json_matches_audiowaveform_v2() {
        let peaks = Peaks {
            sample_rate: 48000,
            samples_per_pixel: 512,
            data: vec![-3, 4, -128, 127],
        };
        let json = peaks.to_json();
        assert_eq!(
            json,
            "{\"version\":2,\"channels\":1,\"sample_rate\":48000,\"samples_per_pixel\":512,\
             \"bits\":8,\"length\":2,\"data\":[-3,4,-128,127]}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["length"], 2);

        let empty = Peaks {
            sample_rate: 8000,
            samples_per_pixel: 1,
            data: vec![],
        };
        let value: serde_json::Value = serde_json::from_str(&empty.to_json()).unwrap();
        assert_eq!(value["data"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn overview_merging() {
        let fine = Peaks {
            sample_rate: 44100,
            samples_per_pixel: 100,
            data: vec![-1, 1, -5, 2, -2, 7, 0, 0, -9, 3],
        };
        let o = overview_of(&fine, 2);
        assert_eq!(o.samples_per_pixel, 300);
        assert_eq!(o.data, vec![-5, 7, -9, 3]);
        let o = overview_of(&fine, 10);
        assert_eq!(o, fine);
        let o = overview_of(&fine, 0);
        assert_eq!(o.data, vec![-9, 7]);
        assert_eq!(to_i8(1.0), 127);
        assert_eq!(to_i8(-1.0), -128);
        assert_eq!(to_i8(f32::NAN), 0);
        assert_eq!(to_i8(f32::INFINITY), 127);

        let samples = [
            0.1,
            f32::NAN,
            -0.5,
            0.25,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.75,
            f32::NAN,
        ];
        assert_eq!(min_max(&samples), (-0.5, 0.75));
        assert_eq!(min_max(&samples[..3]), (-0.5, 0.1));
        assert_eq!(min_max(&[f32::NAN]), (f32::INFINITY, f32::NEG_INFINITY));
        let mut acc = PeakAccumulator::new(4, None);
        acc.push(&[f32::NAN; 5]);
        acc.push(&[0.5, -0.5, 0.25]);
        assert_eq!(acc.finish(), (vec![0, 0, -64, 64], 8));
    }

    #[test]
    fn stereo_mid_peaks_match_the_exact_mix() {
        // Full-scale extremes, odd values and a length that is no multiple of the lanes.
        let left: Vec<i16> = (0..1_003)
            .map(|i: i32| ((i * 7_919) % 65_536 - 32_768) as i16)
            .chain([i16::MIN, i16::MAX, -1, 1])
            .collect();
        let right: Vec<i16> = left.iter().rev().map(|s| s.wrapping_mul(3)).collect();
        let exact = |l: &[i16], r: &[i16]| {
            let mids = l
                .iter()
                .zip(r)
                .map(|(&a, &b)| (i32::from(a) + i32::from(b)) / 2);
            (mids.clone().min().unwrap_or(0), mids.max().unwrap_or(0))
        };
        for range in [0..left.len(), 0..5, 3..40, 17..18, 1_000..1_007] {
            let (lo, hi) = min_max_mid(&left[range.clone()], &right[range.clone()]);
            let (xlo, xhi) = exact(&left[range.clone()], &right[range]);
            assert!((i32::from(lo) - xlo).abs() <= 1, "{lo} vs {xlo}");
            assert!((i32::from(hi) - xhi).abs() <= 1, "{hi} vs {xhi}");
        }
        assert_eq!(
            min_max_mid(&[i16::MIN; 20], &[i16::MIN; 20]),
            (i16::MIN, i16::MIN)
        );
        assert_eq!(
            min_max_mid(&[i16::MAX; 20], &[i16::MAX; 20]),
            (i16::MAX - 1, i16::MAX - 1)
        );

        // Buckets straddle calls exactly as for a mono signal.
        let mut acc = PeakAccumulator::new(4, None);
        let (l, r) = (
            [16_384i16, -16_384, 0, 0, 32_767, 0],
            [16_384i16, -16_384, 0, 0, 32_767, 0],
        );
        acc.push_with(l.len(), 1.0 / 32_768.0, |x| {
            min_max_mid(&l[x.clone()], &r[x])
        });
        assert_eq!(acc.finish(), (vec![-64, 64, 0, 127], 6));
    }

    #[test]
    fn deadline_is_respected() {
        if !have_ffmpeg() {
            return;
        }
        let dir = TempDir::new("deadline");
        let path = dir.file("x.mp3");
        make(&path, 5.0, &["-c:a", "libmp3lame"]);
        let past = Instant::now();
        assert!(matches!(probe(&path, past), Err(MediaError::TimedOut)));
        assert!(matches!(
            waveform(&path, 256, 10, past, &mut |_| {}),
            Err(MediaError::TimedOut)
        ));
        assert_eq!(MediaError::TimedOut.to_string(), "decoding took too long");
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            MediaError::Unsupported(String::new()).to_string(),
            "not an audio file wavekeep can read \
             (supported: MP3, FLAC, WAV, OGG Vorbis, AAC/M4A, ALAC)"
        );
        assert_eq!(
            MediaError::Unsupported("the opus codec is not supported".into()).to_string(),
            "not an audio file wavekeep can read: the opus codec is not supported \
             (supported: MP3, FLAC, WAV, OGG Vorbis, AAC/M4A, ALAC)"
        );
        assert_eq!(
            malformed("contains no audio").to_string(),
            "the audio data is damaged: contains no audio"
        );
    }

    /// Timings; run with `cargo test --release -- --nocapture timings`.
    #[test]
    fn timings() {
        if !have_ffmpeg() {
            return;
        }
        let dir = TempDir::new("timing");
        for (name, extra) in [
            (
                "t.mp3",
                &["-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k"][..],
            ),
            ("t.flac", &["-ac", "2", "-c:a", "flac"][..]),
            ("t.wav", &["-ac", "2", "-c:a", "pcm_s16le"][..]),
            ("t.ogg", &["-ac", "2", "-c:a", "libvorbis"][..]),
            ("t.m4a", &["-ac", "2", "-c:a", "aac"][..]),
        ] {
            let path = dir.file(name);
            make(&path, 10.0, extra);
            // Best of several runs (the file is in the page cache after the first).
            let best = |runs: u32, work: &mut dyn FnMut()| {
                (0..runs)
                    .map(|_| {
                        let start = Instant::now();
                        work();
                        start.elapsed()
                    })
                    .min()
                    .unwrap_or_default()
            };
            let probe_time = best(20, &mut || {
                probe(&path, later()).unwrap();
            });
            let wave_time = best(5, &mut || {
                waveform(&path, 256, 1000, later(), &mut |_| {}).unwrap();
            });
            let mut frames = 0;
            let plain_time = best(5, &mut || frames = plain_decode(&path));
            eprintln!(
                "TIMING {name}: probe {probe_time:?}, waveform {wave_time:?}, \
                 plain decode loop {plain_time:?} ({frames} frames)"
            );
        }
    }

    /// The reference: a bare symphonia decode loop that only counts frames (it stops at the
    /// first error, e.g. the end of a truncated file).
    fn plain_decode(path: &Path) -> u64 {
        let file = File::open(path).unwrap();
        let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
        let mut reader = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .unwrap();
        let track = reader
            .default_track(symphonia::core::formats::TrackType::Audio)
            .unwrap();
        let id = track.id;
        let params = track
            .codec_params
            .as_ref()
            .unwrap()
            .audio()
            .unwrap()
            .clone();
        // Without gapless trimming: MP3 files without a LAME tag get bogus end trims otherwise.
        let mut decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(false))
            .unwrap();
        let mut frames = 0u64;
        while let Ok(Some(packet)) = reader.next_packet() {
            if packet.track_id != id {
                continue;
            }
            if let Ok(buf) = decoder.decode(&packet) {
                frames += buf.frames() as u64;
            }
        }
        frames
    }
}
