//! Artwork thumbnails: an image (uploaded by an owner or found in a file)
//! decoded with `image` (JPEG, PNG, WebP only, decided from its bytes),
//! refused before decoding when it has more pixels than any cover needs (a
//! decompression bomb is a tiny PNG that claims a huge canvas), decoded
//! under a memory cap, and made into lossy WebP thumbnails (libwebp, via
//! the `webp` crate) no wider or taller than each of `ART_WIDTHS`.
//!
//! Runs only in the sandboxed media worker.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::{check_deadline, MediaError};
use app::media::{Thumb, ART_WIDTHS};

/// At most this many pixels (8,000 × 5,000): more than any cover needs.
pub const MAX_PIXELS: u64 = 40_000_000;
/// At most this long a side.
pub const MAX_SIDE: u32 = 16_384;
/// What the decoder may allocate at once.
const MAX_ALLOC: u64 = 512 << 20;
/// libwebp's quality (0–100) for thumbnails.
const QUALITY: f32 = 80.0;

/// The file a thumbnail of `width` is written to in `out_dir`.
pub fn thumb_path(out_dir: &Path, width: u32) -> PathBuf {
    out_dir.join(format!("art-{width}.webp"))
}

/// Thumbnails of the image at `src` written into `out_dir`; the image's
/// size and each thumbnail's.
pub fn thumbnails(
    src: &Path,
    out_dir: &Path,
    deadline: Instant,
) -> Result<(u32, u32, Vec<Thumb>), MediaError> {
    super::guard(|| thumbnails_inner(src, out_dir, deadline))
}

fn unusable(detail: impl Into<String>) -> MediaError {
    MediaError::Image(detail.into())
}

fn reader(src: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, MediaError> {
    let reader = ImageReader::open(src)?.with_guessed_format()?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => Ok(reader),
        Some(other) => Err(unusable(format!(
            "{other:?} images are not accepted (JPEG, PNG or WebP)"
        ))),
        None => Err(unusable("not an image (JPEG, PNG or WebP)")),
    }
}

pub(super) fn thumbnails_inner(
    src: &Path,
    out_dir: &Path,
    deadline: Instant,
) -> Result<(u32, u32, Vec<Thumb>), MediaError> {
    // The header first: nothing is decoded of an image that is too large.
    let (w, h) = reader(src)?
        .into_dimensions()
        .map_err(|e| unusable(format!("the image cannot be read: {e}")))?;
    if w == 0 || h == 0 {
        return Err(unusable("the image is empty"));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS || w > MAX_SIDE || h > MAX_SIDE {
        return Err(unusable(format!(
            "the image is {w} × {h} pixels; at most {} megapixels and {MAX_SIDE} pixels a side are accepted",
            MAX_PIXELS / 1_000_000
        )));
    }
    check_deadline(deadline)?;
    let mut reader = reader(src)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| unusable(format!("the image cannot be decoded: {e}")))?;
    check_deadline(deadline)?;
    // Largest first; each smaller one from the one before (quicker, and
    // as sharp for these ratios).
    let mut widths = ART_WIDTHS;
    widths.sort_unstable_by(|a, b| b.cmp(a));
    let mut from = image;
    let mut thumbs = Vec::with_capacity(widths.len());
    for target in widths {
        let scaled = if from.width() > target || from.height() > target {
            from.resize(target, target, FilterType::CatmullRom)
        } else {
            from.clone()
        };
        let bytes = encode(&scaled)?;
        let mut f = std::fs::File::create(thumb_path(out_dir, target))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        thumbs.push(Thumb {
            target,
            width: scaled.width(),
            height: scaled.height(),
            bytes: bytes.len() as u64,
        });
        from = scaled;
        check_deadline(deadline)?;
    }
    thumbs.reverse();
    Ok((w, h, thumbs))
}

/// `image` as lossy WebP (with its alpha channel when it has one).
fn encode(image: &DynamicImage) -> Result<Vec<u8>, MediaError> {
    let (w, h) = (image.width(), image.height());
    let data = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        webp::Encoder::from_rgba(rgba.as_raw(), w, h)
            .encode_simple(false, QUALITY)
            .map(|m| m.to_vec())
    } else {
        let rgb = image.to_rgb8();
        webp::Encoder::from_rgb(rgb.as_raw(), w, h)
            .encode_simple(false, QUALITY)
            .map(|m| m.to_vec())
    };
    data.map_err(|e| unusable(format!("the thumbnail could not be encoded: {e:?}")))
}
