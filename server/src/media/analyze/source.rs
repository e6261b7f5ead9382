//! Opening a file (the track to decode, its time base, what the header states) and reading its packets (tolerating damage up to a point, tallying their lengths).

use super::*;

pub(super) struct Source {
    pub(super) reader: Box<dyn FormatReader>,
    pub(super) track: Track,
    pub(super) params: AudioCodecParameters,
    pub(super) container: String,
    /// MPEG audio elementary stream (MP1/2/3): the reader's length is an estimate at best.
    pub(super) mpeg_audio: bool,
    /// ADTS AAC stream: the reader's length is an estimate.
    pub(super) adts: bool,
    pub(super) file_len: u64,
}

impl Source {
    pub(super) fn track_id(&self) -> u32 {
        self.track.id
    }

    /// MP3 without a LAME tag: the reader's end trim comes from a length estimate, so the
    /// decoder must not apply it.
    pub(super) fn untrusted_trim(&self) -> bool {
        self.mpeg_audio && self.track.delay.is_none()
    }

    /// Whether the container's frame count is exact (not an estimate) and may cap a count.
    pub(super) fn exact_header(&self) -> bool {
        !(self.adts || self.untrusted_trim())
    }

    pub(super) fn time_base(&self, sample_rate: u32) -> Option<TimeBase> {
        self.track
            .time_base
            .or_else(|| TimeBase::try_from_recip(sample_rate))
    }

    /// Length stated by the container, in frames. Zero means unknown (fragmented MP4).
    pub(super) fn header_frames(&self, sample_rate: u32) -> Option<u64> {
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

pub(super) fn open(path: &Path) -> Result<Source, MediaError> {
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
pub(super) fn pick_track(reader: &dyn FormatReader) -> Result<Track, MediaError> {
    let registry = registry();
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

pub(super) fn make_decoder(
    params: &AudioCodecParameters,
    gapless: bool,
) -> Result<Box<dyn AudioDecoder>, MediaError> {
    let opts = AudioDecoderOptions::default().gapless(gapless);
    registry()
        .make_audio_decoder(params, &opts)
        .map_err(from_symphonia)
}

// ---------------------------------------------------------------------------------------------
// Packet reading
// ---------------------------------------------------------------------------------------------

/// Reads the packets of one track, treating the end of the file (also an unexpected one, i.e. a
/// truncated file) as the end of the stream.
pub(super) struct Pump {
    pub(super) track_id: u32,
    pub(super) packets: u64,
    pub(super) demux_errors_in_a_row: u32,
}

impl Pump {
    pub(super) fn new(track_id: u32) -> Self {
        Pump {
            track_id,
            packets: 0,
            demux_errors_in_a_row: 0,
        }
    }

    pub(super) fn next(
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

pub(super) fn ticks_to_frames(ticks: u64, tb: Option<TimeBase>, sample_rate: u32) -> u64 {
    match tb {
        Some(tb) if !(tb.numer.get() == 1 && tb.denom.get() == sample_rate) => {
            let num = u128::from(ticks) * u128::from(tb.numer.get()) * u128::from(sample_rate);
            let den = u128::from(tb.denom.get());
            u64::try_from((num + den / 2) / den).unwrap_or(u64::MAX)
        }
        _ => ticks,
    }
}

pub(super) fn frames_to_ticks(frames: u64, tb: Option<TimeBase>, sample_rate: u32) -> u64 {
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
pub(super) struct Tally {
    /// MPEG audio: measure by timestamps, not `dur` (see the module notes).
    pub(super) mpeg_audio: bool,
    /// Interleaved PCM with a 1/sample-rate time base: bytes per frame. A packet cut short by
    /// the end of the file holds fewer frames than its `dur` claims.
    pub(super) pcm_block: Option<u64>,
    /// Sum of packet durations.
    pub(super) total: u64,
    /// Some packet had no duration (e.g. Matroska without block durations): measure by
    /// timestamps instead.
    pub(super) missing_dur: bool,
    pub(super) first_pts: Option<i64>,
    pub(super) last_pts: i64,
    /// Length of the last packet: the timestamp step before it, or its own duration.
    pub(super) last_len: u64,
}

impl Tally {
    pub(super) fn new(mpeg_audio: bool, pcm_block: Option<u64>) -> Self {
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

    pub(super) fn add(&mut self, packet: &Packet) {
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

    pub(super) fn ticks(&self) -> u64 {
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
pub(super) fn count_ticks(
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
pub(super) fn tail_reaches(
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

/// Decodes every packet of `src`'s audio track and hands each non-empty
/// buffer to `each`, until the end or `deadline`. Packets that do not
/// decode are skipped; more than half of them failing is the file's fault.
pub(super) fn decode_all(
    src: &mut Source,
    decoder: &mut dyn AudioDecoder,
    deadline: Instant,
    mut each: impl FnMut(GenericAudioBufferRef<'_>) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let mut pump = Pump::new(src.track_id());
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
        each(buf)?;
    }
    if packets > 0 && failed.saturating_mul(2) > packets {
        return Err(malformed(format!(
            "{failed} of {packets} audio packets could not be decoded"
        )));
    }
    Ok(())
}
