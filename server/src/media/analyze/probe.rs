//! `probe`: the exact facts of a file, reading as little as the container allows.

use super::*;

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

pub(super) fn probe_inner(path: &Path, deadline: Instant) -> Result<AudioInfo, MediaError> {
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
