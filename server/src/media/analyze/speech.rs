//! `speech_chunks`: a file made small for a speech-to-text provider — mixed
//! to mono, 16 kHz, 32 kbit/s MP3 (LAME resamples) — and cut into chunks of
//! at most `max_chunk_ms`, each cut placed at the quietest 20 ms within the
//! last stretch before the limit, so that no word is split when a pause is
//! near. One decoding pass; memory holds only that last stretch.

use std::io::{Seek, Write};

use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, MonoPcm, Quality};

use super::peaks::Progress;
use super::preview::{encode_error, sane};
use super::*;

/// Sample rate and bitrate of what is sent to the provider.
pub const SPEECH_RATE: u32 = 16_000;
const SPEECH_KBPS: Bitrate = Bitrate::Kbps32;
/// How far before the limit a cut may be placed.
const SEARCH_MS: u64 = 10_000;

/// Writes `out_dir/chunk-NNNN.mp3` for each chunk and returns each chunk's
/// span (start, end) in milliseconds of the file. With `cuts` (the ends of
/// every chunk but the last, in ms), the same chunks as before are made.
///
/// # Errors
///
/// As for [`waveform`].
pub fn speech_chunks(
    path: &Path,
    out_dir: &Path,
    max_chunk_ms: u64,
    cuts: Option<&[i64]>,
    deadline: Instant,
    progress: &mut dyn FnMut(u8),
) -> Result<Vec<(i64, i64)>, MediaError> {
    guard(|| {
        speech_inner(
            path,
            out_dir,
            max_chunk_ms.max(1_000),
            cuts,
            deadline,
            progress,
        )
    })
}

/// The chunk being written.
struct Chunk {
    encoder: mp3lame_encoder::Encoder,
    file: std::io::BufWriter<File>,
    start: u64,
}

struct Cutter<'a> {
    out_dir: &'a Path,
    rate: u32,
    /// Mono samples not yet encoded; `pending[0]` is frame `pending_at`.
    pending: Vec<f32>,
    pending_at: u64,
    current: Option<Chunk>,
    spans: Vec<(u64, u64)>,
    mp3: Vec<u8>,
}

impl Cutter<'_> {
    fn open(&mut self, start: u64) -> Result<(), MediaError> {
        let mut b = Builder::new().ok_or_else(|| encode_error("LAME did not start"))?;
        b.set_num_channels(1).map_err(encode_error)?;
        b.set_sample_rate(self.rate).map_err(encode_error)?;
        b.set_output_sample_rate(std::num::NonZeroU32::new(SPEECH_RATE))
            .map_err(encode_error)?;
        b.set_brate(SPEECH_KBPS).map_err(encode_error)?;
        b.set_quality(Quality::Good).map_err(encode_error)?;
        // The LAME tag names the encoder delay and padding, so decoders
        // (ffmpeg in every recognizer, symphonia) start at sample 0 and the
        // provider's times need no correction.
        b.set_to_write_vbr_tag(true).map_err(encode_error)?;
        let idx = self.spans.len() + usize::from(self.current.is_some());
        let file = File::create(self.out_dir.join(format!("chunk-{idx:04}.mp3")))?;
        self.current = Some(Chunk {
            encoder: b.build().map_err(encode_error)?,
            file: std::io::BufWriter::with_capacity(64 * 1024, file),
            start,
        });
        Ok(())
    }

    /// Encodes pending samples up to frame `upto` into the current chunk.
    fn encode_upto(&mut self, upto: u64) -> Result<(), MediaError> {
        let n = (upto.saturating_sub(self.pending_at) as usize).min(self.pending.len());
        if n == 0 {
            return Ok(());
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        self.mp3.clear();
        self.mp3
            .reserve(mp3lame_encoder::max_required_buffer_size(n));
        c.encoder
            .encode_to_vec(MonoPcm(&self.pending[..n]), &mut self.mp3)
            .map_err(encode_error)?;
        c.file.write_all(&self.mp3)?;
        self.pending.drain(..n);
        self.pending_at += n as u64;
        Ok(())
    }

    /// Ends the current chunk at frame `at` (everything before it is encoded).
    fn close(&mut self, at: u64) -> Result<(), MediaError> {
        self.encode_upto(at)?;
        if let Some(mut c) = self.current.take() {
            self.mp3.clear();
            self.mp3.reserve(7200);
            c.encoder
                .flush_to_vec::<FlushNoGap>(&mut self.mp3)
                .map_err(encode_error)?;
            c.file.write_all(&self.mp3)?;
            let mut file = c.file.into_inner().map_err(|e| e.into_error())?;
            // The first frame was reserved for the tag.
            self.mp3.clear();
            if c.encoder.lame_tag_encode_to_vec(&mut self.mp3).is_some() {
                file.seek(std::io::SeekFrom::Start(0))?;
                file.write_all(&self.mp3)?;
            }
            file.sync_all()?;
            self.spans.push((c.start, at));
        }
        Ok(())
    }

    /// Ends the last chunk at frame `end`; a last chunk under 0.1 s (the
    /// shortest audio providers accept) after a cut is dropped: it holds no
    /// speech, only the tail after a pause.
    fn finish(mut self, end: u64) -> Result<Vec<(u64, u64)>, MediaError> {
        let start = self.current.as_ref().map_or(end, |c| c.start);
        if !self.spans.is_empty() && (end - start) * 10 < u64::from(self.rate) {
            let idx = self.spans.len();
            self.current = None;
            std::fs::remove_file(self.out_dir.join(format!("chunk-{idx:04}.mp3")))?;
        } else {
            self.close(end)?;
        }
        Ok(self.spans)
    }

    /// The frame at the middle of the quietest 20 ms in `[from, to)` of the
    /// pending samples (the latest of equals).
    fn quietest(&self, from: u64, to: u64) -> u64 {
        let frame = (self.rate / 50).max(1) as u64;
        let mut best = (f32::INFINITY, to);
        let mut at = from;
        while at + frame <= to {
            let a = (at - self.pending_at) as usize;
            let b = (at + frame - self.pending_at) as usize;
            let energy: f32 = self.pending[a..b].iter().map(|s| s * s).sum();
            if energy <= best.0 {
                best = (energy, at + frame / 2);
            }
            at += frame;
        }
        best.1
    }
}

pub(super) fn speech_inner(
    path: &Path,
    out_dir: &Path,
    max_chunk_ms: u64,
    cuts: Option<&[i64]>,
    deadline: Instant,
    progress: &mut dyn FnMut(u8),
) -> Result<Vec<(i64, i64)>, MediaError> {
    check_deadline(deadline)?;
    let mut src = open(path)?;
    let mut decoder = make_decoder(&src.params, !src.untrusted_trim())?;
    let sample_rate = src.params.sample_rate.filter(|r| *r > 0);
    let total = sample_rate.and_then(|sr| src.header_frames(sr));
    let mut report = Progress::start(progress, total);
    let mut planes: Vec<Vec<f32>> = Vec::new();
    let mut cutter: Option<Cutter<'_>> = None;
    let mut cut_frames: Vec<u64> = Vec::new();
    let mut frames_seen = 0u64;
    decode_all(&mut src, decoder.as_mut(), deadline, |buf| {
        let c = match &mut cutter {
            Some(c) => c,
            None => {
                let rate = buf.spec().rate();
                cut_frames = cuts
                    .unwrap_or_default()
                    .iter()
                    .map(|ms| frames_at((*ms).max(0) as u64, rate))
                    .collect();
                let mut c = Cutter {
                    out_dir,
                    rate,
                    pending: Vec::new(),
                    pending_at: 0,
                    current: None,
                    spans: Vec::new(),
                    mp3: Vec::new(),
                };
                c.open(0)?;
                cutter.insert(c)
            }
        };
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        let n = buf.frames();
        let ch = planes.len().max(1) as f32;
        c.pending
            .extend((0..n).map(|i| sane(planes.iter().map(|p| sane(p[i])).sum::<f32>() / ch)));
        frames_seen += n as u64;
        let rate = u64::from(c.rate);
        let max_frames = max_chunk_ms * rate / 1000;
        let search = (SEARCH_MS * rate / 1000).min(max_frames / 4).max(1);
        loop {
            let start = c.current.as_ref().map_or(0, |x| x.start);
            let available = c.pending_at + c.pending.len() as u64;
            let next = if cuts.is_some() {
                cut_frames.get(c.spans.len()).copied()
            } else if available >= start + max_frames {
                // On a whole millisecond, so the plan (in ms) makes the
                // same chunks again.
                let at = c.quietest(start + max_frames - search, start + max_frames);
                Some(frames_at(ms_at(at, c.rate), c.rate).max(start + 1))
            } else {
                None
            };
            match next {
                Some(at) if available >= at => {
                    c.close(at)?;
                    c.open(at)?;
                }
                // Everything before the next cut can be encoded now.
                Some(at) => {
                    c.encode_upto(at)?;
                    break;
                }
                None if cuts.is_some() => {
                    c.encode_upto(available)?;
                    break;
                }
                // Nothing before the search window can be a cut either.
                None => {
                    c.encode_upto(start + max_frames - search)?;
                    break;
                }
            }
        }
        report.update(frames_seen);
        Ok(())
    })?;
    let Some(c) = cutter else {
        return Err(no_audio());
    };
    let end = c.pending_at + c.pending.len() as u64;
    let rate = c.rate;
    let spans = c.finish(end)?;
    report.finish();
    Ok(spans
        .iter()
        .map(|(a, b)| (ms_at(*a, rate) as i64, ms_at(*b, rate) as i64))
        .collect())
}

/// The millisecond nearest frame `frame`, and back: `frames_at(ms_at(f))`
/// is `f` for every frame on a whole millisecond (from 1 kHz up).
fn ms_at(frame: u64, rate: u32) -> u64 {
    (frame * 1000 + u64::from(rate) / 2) / u64::from(rate.max(1))
}

fn frames_at(ms: u64, rate: u32) -> u64 {
    (ms * u64::from(rate) + 500) / 1000
}

#[cfg(test)]
mod tests {
    use super::{frames_at, ms_at};

    #[test]
    fn a_cut_on_a_whole_millisecond_survives_the_round_trip() {
        for rate in [8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000] {
            for ms in [0, 1, 7, 999, 10_001, 600_000, 7_200_123] {
                let f = frames_at(ms, rate);
                assert_eq!(ms_at(f, rate), ms, "{rate} Hz, {ms} ms");
                assert_eq!(frames_at(ms_at(f, rate), rate), f);
            }
        }
    }
}
