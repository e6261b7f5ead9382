//! What the fake "hears": the file decoded as a recognizer would, and the
//! tones in it, each a word named by its pitch.

use std::io::Cursor;

use super::*;

/// A tone heard: a word and when (seconds from the file's start).
#[derive(Debug, Clone, PartialEq)]
pub struct Tone {
    pub word: &'static str,
    pub start: f64,
    pub end: f64,
    pub hz: f64,
}

/// Decodes `audio` and finds its tones (and the audio's length in seconds).
pub fn hear(audio: &[u8], ext: &str) -> Result<(Vec<Tone>, f64), String> {
    let (samples, rate) = decode(audio, ext)?;
    Ok((
        tones(&samples, rate),
        samples.len() as f64 / f64::from(rate.max(1)),
    ))
}

/// Mono samples of a file, as a recognizer's decoder gives them (encoder
/// delay and padding trimmed when the file says how much).
pub fn decode(audio: &[u8], ext: &str) -> Result<(Vec<f32>, u32), String> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
    use symphonia::core::meta::MetadataOptions;

    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(audio.to_vec())),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| e.to_string())?;
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.as_ref().and_then(|p| p.audio()).is_some())
        .cloned()
        .ok_or("no audio track")?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or("no audio track")?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut planes: Vec<Vec<f32>> = Vec::new();
    let mut rate = params.sample_rate.unwrap_or(16_000);
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        };
        if packet.track_id != track.id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(Error::DecodeError(_)) => continue,
            Err(e) => return Err(e.to_string()),
        };
        rate = buf.spec().rate();
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        let ch = planes.len().max(1) as f32;
        out.extend((0..buf.frames()).map(|i| planes.iter().map(|p| p[i]).sum::<f32>() / ch));
    }
    Ok((out, rate))
}

/// The tones in `samples`: runs of 10 ms frames louder than silence, each
/// named by its pitch (zero crossings).
pub fn tones(samples: &[f32], rate: u32) -> Vec<Tone> {
    let frame = (rate / 100).max(1) as usize;
    let loud: Vec<bool> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.04)
        .collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < loud.len() {
        if !loud[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < loud.len() && loud[i] {
            i += 1;
        }
        // Shorter than 60 ms: a click, not a word.
        if i - first < 6 {
            continue;
        }
        let (a, b) = (first * frame, (i * frame).min(samples.len()));
        let run = &samples[a..b];
        let crossings = run
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        let secs = run.len() as f64 / f64::from(rate);
        let hz = crossings as f64 / 2.0 / secs;
        let k = ((hz - 400.0) / 100.0)
            .round()
            .clamp(0.0, (WORDS.len() - 1) as f64) as usize;
        found.push(Tone {
            word: WORDS[k],
            start: a as f64 / f64::from(rate),
            end: b as f64 / f64::from(rate),
            hz,
        });
    }
    found
}
