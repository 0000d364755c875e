//! Maps JSON paths to line/column positions and back, so that errors found
//! after parsing (or reported by serde without a field path) can name both.
//!
//! A small scanner walks the document once and records, for every object
//! member and array element, its path (`scenarios.chat.stages[1].rate`), the
//! byte range it covers and where its value starts. It never fails: on text
//! that is not valid JSON it keeps what it indexed before the fault.

/// One indexed node.
#[derive(Debug)]
struct Node {
    path: String,
    /// From the member's key (or the element's value) start ...
    start: usize,
    /// ... to the end of its value (inclusive of the last byte).
    end: usize,
    /// Where the value starts.
    value: usize,
}

/// Every member and element of a JSON document with its position.
#[derive(Debug)]
pub(crate) struct JsonIndex<'a> {
    text: &'a str,
    nodes: Vec<Node>,
}

impl<'a> JsonIndex<'a> {
    /// Indexes `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        let mut s = Scanner {
            b: text.as_bytes(),
            i: 0,
            nodes: Vec::new(),
        };
        s.ws();
        let _ = s.value("", 0);
        JsonIndex {
            text,
            nodes: s.nodes,
        }
    }

    /// 1-based line and column of the value at `path`.
    pub(crate) fn position_of(&self, path: &str) -> Option<(usize, usize)> {
        let node = self.nodes.iter().find(|n| n.path == path)?;
        Some(line_col(self.text, node.value))
    }

    /// The path of the innermost node containing the 1-based `line`/`column`
    /// (as serde_json reports them); empty for the document root.
    pub(crate) fn path_at(&self, line: usize, column: usize) -> &str {
        let Some(offset) = offset_of(self.text, line, column) else {
            return "";
        };
        self.nodes
            .iter()
            .filter(|n| n.start <= offset && offset <= n.end)
            .min_by_key(|n| n.end - n.start)
            .map_or("", |n| n.path.as_str())
    }
}

/// A path segment appended to `parent`: `parent.key`, or `parent["odd key"]`
/// when the key is not a plain identifier.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The byte offset of serde_json's (line, column); serde_json counts columns
/// in bytes and points at the last byte it consumed.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    Some((start + column.saturating_sub(1)).min(text.len()))
}

struct Scanner<'b> {
    b: &'b [u8],
    i: usize,
    nodes: Vec<Node>,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Scans one value at the current position (whitespace skipped) and
    /// returns its last byte's offset.
    fn value(&mut self, path: &str, depth: usize) -> Option<usize> {
        if depth > 128 {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(path, depth),
            b'[' => self.array(path, depth),
            b'"' => {
                self.string()?;
                Some(self.i - 1)
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len()
                    && !matches!(
                        self.b[self.i],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    self.i += 1;
                }
                (self.i > start).then(|| self.i - 1)
            }
        }
    }

    /// Scans a string and returns its (unescaped enough for keys) content.
    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let start = self.i;
        let mut escaped = false;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            self.i += 1;
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                let raw = &self.b[start..self.i - 1];
                let s = std::str::from_utf8(raw).ok()?;
                return Some(
                    serde_json::from_str::<String>(&format!("\"{s}\""))
                        .unwrap_or_else(|_| s.to_owned()),
                );
            }
        }
        None
    }

    fn object(&mut self, path: &str, depth: usize) -> Option<usize> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(self.i - 1);
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.i;
            let key = self.string()?;
            let child = join_key(path, &key);
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let value = self.i;
            let slot = self.nodes.len();
            self.nodes.push(Node {
                path: child.clone(),
                start,
                end: usize::MAX,
                value,
            });
            let end = self.value(&child, depth + 1)?;
            self.nodes[slot].end = end;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(self.i - 1);
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, path: &str, depth: usize) -> Option<usize> {
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(self.i - 1);
        }
        let mut index = 0;
        loop {
            self.ws();
            let child = join_index(path, index);
            let start = self.i;
            let slot = self.nodes.len();
            self.nodes.push(Node {
                path: child.clone(),
                start,
                end: usize::MAX,
                value: start,
            });
            let end = self.value(&child, depth + 1)?;
            self.nodes[slot].end = end;
            index += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(self.i - 1);
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
  "name": "x",
  "scenarios": {
    "chat": { "stages": [
      { "name": "a", "rate": 5 },
      { "name": "b", "rate": -1, "odd key": [1, 2] }
    ] }
  }
}"#;

    #[test]
    fn path_to_position() {
        let idx = JsonIndex::new(DOC);
        assert_eq!(idx.position_of("name"), Some((2, 11)));
        assert_eq!(
            idx.position_of("scenarios.chat.stages[1].rate"),
            Some((6, 30))
        );
        assert_eq!(
            idx.position_of("scenarios.chat.stages[1][\"odd key\"][1]"),
            Some((6, 49))
        );
        assert_eq!(idx.position_of("scenarios.nope"), None);
    }

    #[test]
    fn position_to_path() {
        let idx = JsonIndex::new(DOC);
        assert_eq!(idx.path_at(6, 31), "scenarios.chat.stages[1].rate");
        assert_eq!(idx.path_at(5, 32), "scenarios.chat.stages[0]");
        assert_eq!(idx.path_at(1, 1), "");
    }

    #[test]
    fn broken_text_does_not_panic() {
        for cut in 0..DOC.len() {
            let idx = JsonIndex::new(&DOC[..cut]);
            let _ = idx.path_at(3, 5);
            let _ = idx.position_of("scenarios.chat");
        }
    }
}
