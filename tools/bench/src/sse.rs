//! Incremental Server-Sent Events parsing: body frames in, `data:` payloads out.
//!
//! Frames from the network split events anywhere (inside a line, inside a UTF-8 sequence) and
//! may carry several events at once, so bytes are buffered until a line is complete.

/// Buffers partial lines across frames.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Appends one body frame and pushes the payload of every completed `data:` line to `out`.
    pub fn push(&mut self, frame: &[u8], out: &mut Vec<String>) {
        self.pending.extend_from_slice(frame);
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            if let Some(payload) = data_payload(&self.pending[start..end]) {
                out.push(payload);
            }
            start = end + 1;
        }
        self.pending.drain(..start);
    }

    /// The payload of a last `data:` line that the stream ended without a newline.
    pub fn finish(&mut self, out: &mut Vec<String>) {
        let rest = std::mem::take(&mut self.pending);
        if let Some(payload) = data_payload(&rest) {
            out.push(payload);
        }
    }
}

/// `data: X` → `X` (one optional space after the colon, `\r` of CRLF dropped); other lines
/// (comments, `event:`, `id:`, blank separators) → None.
fn data_payload(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"data:")?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    Some(String::from_utf8_lossy(rest).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(frames: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for f in frames {
            p.push(f, &mut out);
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn several_events_in_one_frame() {
        let got = feed(&[b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n"]);
        assert_eq!(got, ["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    }

    #[test]
    fn events_split_across_frames_and_utf8() {
        let text = "data: {\"t\":\"é\"}\n\n".as_bytes();
        let (a, b) = text.split_at(13); // inside the two-byte 'é'
        let got = feed(&[&a[..3], &a[3..], b, b"data: [DO", b"NE]\r\n\r\n"]);
        assert_eq!(got, ["{\"t\":\"é\"}", "[DONE]"]);
    }

    #[test]
    fn ignores_comments_and_other_fields_and_keeps_unterminated_tail() {
        let got = feed(&[b": ping\nevent: x\nid: 3\ndata:nospace\n\ndata: tail"]);
        assert_eq!(got, ["nospace", "tail"]);
    }
}
