//! A minified (or compiled) script kept for mapping: its lines found once, and the
//! word at a frame's position read in constant time, however long the line (a
//! bundle is often one line of megabytes).

/// Lines longer than this in a non-ASCII script are not searched for names
/// (columns count UTF-16 units, so finding one means walking the line).
const MAX_WALKED_LINE: usize = 64 * 1024;

pub struct Script {
    text: String,
    line_starts: Vec<usize>,
    /// Byte offsets are UTF-16 columns (bundlers escape non-ASCII by default).
    ascii: bool,
}

impl Script {
    pub fn new(text: String) -> Script {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let ascii = text.is_ascii();
        Script {
            text,
            line_starts,
            ascii,
        }
    }

    /// Bytes held, for the cache's bound.
    pub fn weight(&self) -> usize {
        self.text.len() + self.line_starts.len() * std::mem::size_of::<usize>()
    }

    /// The 0-based line, without its line break.
    pub fn line(&self, index: u32) -> Option<&str> {
        let start = *self.line_starts.get(index as usize)?;
        let end = self
            .line_starts
            .get(index as usize + 1)
            .map_or(self.text.len(), |next| next - 1);
        let line = self.text.get(start..end)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    /// The identifier or keyword starting at the 0-based UTF-16 `column`.
    pub fn word_at(&self, line: u32, column: u32) -> Option<&str> {
        let text = self.line(line)?;
        let start = if self.ascii {
            column as usize
        } else if text.len() <= MAX_WALKED_LINE {
            let mut units = 0usize;
            let mut found = None;
            for (offset, c) in text.char_indices() {
                if units >= column as usize {
                    found = Some(offset);
                    break;
                }
                units += c.len_utf16();
            }
            found?
        } else {
            return None;
        };
        let rest = text.get(start..)?;
        let end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '$'))
            .map_or(rest.len(), |(i, _)| i);
        (end > 0).then(|| &rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_words() {
        let s = Script::new("function e(n){return n}\r\nvar é=1;function f(){}\n".into());
        assert_eq!(s.line(0), Some("function e(n){return n}"));
        assert_eq!(s.word_at(0, 9), Some("e"));
        assert_eq!(s.word_at(0, 0), Some("function"));
        assert_eq!(s.word_at(1, 8), Some("function"));
        assert_eq!(s.word_at(0, 10), None);
        assert_eq!(s.line(2), Some(""));
        assert_eq!(s.line(3), None);
    }
}
