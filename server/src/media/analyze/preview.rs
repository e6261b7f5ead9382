//! `preview`: a constant-bitrate MP3 of a file (LAME), for files browsers play badly.

use super::peaks::Progress;
use super::*;

/// Bitrate of previews: constant, so browsers seek them exactly with byte ranges.
pub const PREVIEW_KBPS: u32 = 128;

/// A decoded sample as LAME may take it: damaged input can decode to NaN,
/// infinities or values far past full scale, on which LAME's quantizer
/// fails an assertion and aborts the process (found by fuzzing).
pub(super) fn sane(s: f32) -> f32 {
    if s.is_finite() {
        s.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

pub(super) fn encode_error(e: impl fmt::Display) -> MediaError {
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

pub(super) fn preview_inner(
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

    decode_all(&mut src, decoder.as_mut(), deadline, |buf| {
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
        for plane in planes.iter_mut() {
            for s in plane.iter_mut() {
                *s = sane(*s);
            }
        }
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
        Ok(())
    })?;
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
