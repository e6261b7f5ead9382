//! `waveform`: audiowaveform peaks (min/max per bucket, mixed to mono) at a fine zoom level and an overview, in one decode pass.

use super::buckets::*;
use super::*;

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

/// Merges fine pairs so that at most `points` pairs remain.
pub(super) fn overview_of(fine: &Peaks, points: u32) -> Peaks {
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
pub(super) struct Progress<'a> {
    pub(super) callback: &'a mut dyn FnMut(u8),
    pub(super) total: Option<u64>,
    pub(super) last: u8,
}

impl<'a> Progress<'a> {
    pub(super) fn start(callback: &'a mut dyn FnMut(u8), total: Option<u64>) -> Self {
        callback(0);
        Progress {
            callback,
            total: total.filter(|t| *t > 0),
            last: 0,
        }
    }

    pub(super) fn update(&mut self, done: u64) {
        if let Some(total) = self.total {
            let pct = (u128::from(done) * 100 / u128::from(total)).min(99);
            let pct = u8::try_from(pct).unwrap_or(99);
            if pct > self.last {
                self.last = pct;
                (self.callback)(pct);
            }
        }
    }

    pub(super) fn finish(self) {
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

pub(super) fn waveform_inner(
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["length"], 2);

        let empty = Peaks {
            sample_rate: 8000,
            samples_per_pixel: 1,
            data: vec![],
        };
        let value: serde_json::Value = serde_json::from_str(&empty.to_json()).expect("json");
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
}
