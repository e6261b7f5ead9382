//! One transcript from its chunks: each chunk's segments and words moved by
//! the chunk's start, in order; the owner's corrections kept in place of
//! the new segments they cover (unless the owner asked to replace them).

use app::transcripts::db::{NewSegment, NewWord};

use super::answer::ChunkResult;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    pub language: Option<String>,
    pub segments: Vec<NewSegment>,
    pub words: Vec<NewWord>,
}

/// `chunks`: each chunk's start (ms in the file) and answer, in order.
/// `kept`: the corrections to keep.
pub fn merge(chunks: &[(i64, ChunkResult)], kept: &[NewSegment]) -> Merged {
    // Segments with the words that belong to each.
    let mut pieces: Vec<(NewSegment, Vec<NewWord>)> = Vec::new();
    let mut languages: Vec<&str> = Vec::new();
    for (offset, c) in chunks {
        if let Some(l) = c.language.as_deref() {
            languages.push(l);
        }
        for (i, s) in c.segments.iter().enumerate() {
            let text = s.text.trim();
            if text.is_empty() {
                continue;
            }
            let words = c
                .words
                .iter()
                .filter(|w| w.segment == i)
                .map(|w| NewWord {
                    segment_idx: 0,
                    start_ms: offset + w.start_ms,
                    end_ms: offset + w.end_ms,
                    word: w.word.clone(),
                })
                .collect();
            pieces.push((
                NewSegment {
                    start_ms: offset + s.start_ms,
                    end_ms: offset + s.end_ms,
                    text: text.to_string(),
                    edited_at: None,
                },
                words,
            ));
        }
    }
    if !kept.is_empty() {
        pieces.retain(|(s, _)| !kept.iter().any(|k| covers(k, s)));
        pieces.extend(kept.iter().map(|k| (k.clone(), Vec::new())));
        pieces.sort_by_key(|(s, _)| (s.start_ms, s.end_ms));
    }
    let mut merged = Merged {
        language: most_common(&languages),
        ..Merged::default()
    };
    for (i, (s, words)) in pieces.into_iter().enumerate() {
        merged.segments.push(s);
        merged.words.extend(words.into_iter().map(|mut w| {
            w.segment_idx = i as i64;
            w
        }));
    }
    merged
}

/// Whether the correction `k` stands where `s` is: it overlaps more than
/// half of `s`.
fn covers(k: &NewSegment, s: &NewSegment) -> bool {
    let overlap = k.end_ms.min(s.end_ms) - k.start_ms.max(s.start_ms);
    let len = (s.end_ms - s.start_ms).max(1);
    overlap * 2 > len
}

fn most_common(v: &[&str]) -> Option<String> {
    let mut best: Option<(&str, usize)> = None;
    for l in v {
        let n = v.iter().filter(|x| *x == l).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((l, n));
        }
    }
    best.map(|(l, _)| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::answer::{Piece, WordPiece};
    use super::*;

    fn chunk(lang: &str, segs: &[(i64, i64, &str)]) -> ChunkResult {
        ChunkResult {
            language: Some(lang.into()),
            text: String::new(),
            segments: segs
                .iter()
                .map(|(a, b, t)| Piece {
                    start_ms: *a,
                    end_ms: *b,
                    text: (*t).into(),
                })
                .collect(),
            words: segs
                .iter()
                .enumerate()
                .map(|(i, (a, b, t))| WordPiece {
                    segment: i,
                    start_ms: *a,
                    end_ms: *b,
                    word: (*t).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn chunks_move_by_their_start_and_corrections_stay() {
        let chunks = vec![
            (0, chunk("en", &[(0, 1_000, "one"), (1_500, 2_000, " ")])),
            (
                30_000,
                chunk("en", &[(500, 1_500, "two"), (2_000, 3_000, "three")]),
            ),
            (60_000, chunk("de", &[(0, 900, "four")])),
        ];
        let m = merge(&chunks, &[]);
        let spans: Vec<(i64, i64, &str)> = m
            .segments
            .iter()
            .map(|s| (s.start_ms, s.end_ms, s.text.as_str()))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 1_000, "one"),
                (30_500, 31_500, "two"),
                (32_000, 33_000, "three"),
                (60_000, 60_900, "four")
            ]
        );
        assert_eq!(m.language.as_deref(), Some("en"));
        assert_eq!(
            m.words.iter().map(|w| w.segment_idx).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(m.words[2].start_ms, 32_000);

        let fixed = NewSegment {
            start_ms: 30_400,
            end_ms: 31_600,
            text: "Two, corrected".into(),
            edited_at: Some(5),
        };
        let m = merge(&chunks, std::slice::from_ref(&fixed));
        assert_eq!(m.segments.len(), 4);
        assert_eq!(m.segments[1], fixed);
        assert_eq!(
            m.words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
            ["one", "three", "four"]
        );
        assert_eq!(m.words[1].segment_idx, 2);
    }
}
