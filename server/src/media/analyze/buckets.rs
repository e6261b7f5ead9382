//! The folds peaks are made of: min/max of float and integer samples (as
//! SIMD-friendly lanes and folds), the mid signal of stereo without a mixed
//! copy, mixing planes to mono, and the streaming accumulator of buckets.

pub(super) fn to_i8(sample: f32) -> i8 {
    // NaN casts to 0; everything else is clamped into range first.
    (sample * 128.0).round().clamp(-128.0, 127.0) as i8
}

/// A sample type peaks are computed on: f32 as decoded, or integer PCM (no
/// per-sample conversion to float).
pub(super) trait Sample: Copy + PartialOrd {
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
pub(super) fn min_max<T: Sample>(samples: &[T]) -> (T, T) {
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
pub(super) trait Pcm:
    Sample + Ord + std::ops::Shr<u8, Output = Self> + std::ops::Add<Output = Self>
{
}

impl Pcm for i16 {}
impl Pcm for i32 {}

/// Minimum and maximum of integer samples: a plain fold, which the compiler
/// turns into SIMD min/max (integers have no NaN to keep in order).
pub(super) fn min_max_pcm<T: Pcm>(samples: &[T]) -> (T, T) {
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
pub(super) fn min_max_mid<T: Pcm>(a: &[T], b: &[T]) -> (T, T) {
    a.iter()
        .zip(b)
        .map(|(&l, &r)| (l >> 1) + (r >> 1))
        .fold((T::HIGHEST, T::LOWEST), |(lo, hi), s| {
            (lo.min(s), hi.max(s))
        })
}

/// Mono or stereo integer PCM into the peaks: min and max straight from the
/// decoded planes (the first `frames` of each), scaled by `scale` to ±1.
pub(super) fn push_pcm<T: Pcm>(
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
pub(super) struct PeakAccumulator {
    pub(super) spp: usize,
    pub(super) filled: usize,
    pub(super) min: f32,
    pub(super) max: f32,
    pub(super) frames: u64,
    pub(super) data: Vec<i8>,
}

impl PeakAccumulator {
    pub(super) fn new(spp: u32, expected_frames: Option<u64>) -> Self {
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

    pub(super) fn push(&mut self, samples: &[f32]) {
        self.push_scaled((samples, 1.0));
    }

    /// Samples that become true values once multiplied by `factor` (> 0).
    pub(super) fn push_scaled<T: Sample>(&mut self, (samples, factor): (&[T], f32)) {
        self.push_with(samples.len(), factor, |range| min_max(&samples[range]));
    }

    /// `len` mono samples whose minimum and maximum over a range of them
    /// `min_max_of` gives, as values that become true ones once multiplied by
    /// `factor` (> 0).
    pub(super) fn push_with<T: Sample>(
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

    pub(super) fn flush(&mut self) {
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

    pub(super) fn finish(mut self) -> (Vec<i8>, u64) {
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
pub(super) fn mix_to_mono<'a, T: Copy + 'a, S: Sample + Default + std::ops::AddAssign>(
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
