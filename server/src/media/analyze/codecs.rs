//! Codec and container names, and the bit depths containers imply.

use super::*;

/// Every decoder wavekeep has: symphonia's, and Opus through libopus
/// (symphonia ships no Opus decoder; its Ogg and Matroska readers hand
/// over the packets and the OpusHead).
pub(super) fn registry() -> &'static symphonia::core::codecs::registry::CodecRegistry {
    static REGISTRY: std::sync::LazyLock<symphonia::core::codecs::registry::CodecRegistry> =
        std::sync::LazyLock::new(|| {
            let mut r = symphonia::core::codecs::registry::CodecRegistry::new();
            symphonia::default::register_enabled_codecs(&mut r);
            r.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
            r
        });
    &REGISTRY
}

/// (codec, short name, container bits per sample for PCM)
pub(super) const CODECS: &[(AudioCodecId, &str, Option<u16>)] = &[
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
pub(super) fn codec_desc(codec: AudioCodecId) -> (String, Option<u16>) {
    if let Some((_, name, bits)) = CODECS.iter().find(|(id, _, _)| *id == codec) {
        return ((*name).to_string(), *bits);
    }
    let name = registry().get_audio_decoder(codec).map_or_else(
        || "unknown".to_string(),
        |reg| reg.codec.info.short_name.to_ascii_lowercase(),
    );
    (name, None)
}

pub(super) fn container_name(reader: &dyn FormatReader) -> String {
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
pub(super) fn alac_bit_depth(params: &AudioCodecParameters) -> Option<u16> {
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
