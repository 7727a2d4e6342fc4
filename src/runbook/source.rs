//! The runbook's text and where every node of it sits, so that any error found
//! after parsing (a duplicate id, a name that matches nothing in AWS) can still
//! point at `file:line:column` and show the offending line with a caret.
//!
//! serde gives us the values but forgets positions; a second pass over the same
//! text with `yaml-rust2`'s marked event parser records the position of every
//! node under a path such as `steps[1].subnet_ipv6.subnets[0].index`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in the runbook file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// The runbook file as read from disk, with the position of every node.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl Source {
    /// Index `text`. A YAML syntax error is reported by serde later with the
    /// same position, so a failure here just leaves the index empty.
    pub fn new(path: &Path, text: String) -> Source {
        let mut recv = Recorder::default();
        let mut parser = Parser::new_from_str(&text);
        let _ = parser.load(&mut recv, false);
        Source { path: path.to_path_buf(), text, values: recv.values, keys: recv.keys }
    }

    /// Where the value at `path` starts (for a mapping or list under a key:
    /// the key); falls back to the nearest ancestor that has a position (a
    /// defaulted field has none of its own).
    pub fn pos(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p).or_else(|| self.keys.get(p)) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return Pos { line: 1, col: 1 },
            }
        }
    }

    /// Where the key of the mapping entry at `path` starts, if it exists.
    pub fn key_pos(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied()
    }

    /// Position of a byte offset (used for serde's error locations).
    pub fn pos_of_offset(&self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = yaml_lines(&self.text[..offset]);
        let line = before.len();
        let col = before.last().map_or(0, |l| l.chars().count()) + 1;
        Pos { line, col }
    }

    fn line_text(&self, line: usize) -> Option<&str> {
        yaml_lines(&self.text).into_iter().nth(line.checked_sub(1)?)
    }
}

/// The lines of `text` as YAML counts them: a line ends at CR LF, LF or a
/// lone CR (YAML 1.2, 5.4). The marked parser counts lines this way, so the
/// line shown under a message must be cut the same way; `str::lines` would
/// not break at a lone CR and show the wrong line.
pub fn yaml_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        lines.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    lines.push(rest);
    lines
}

/// Builds the path -> position maps from parser events.
#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

impl Recorder {
    /// The path of the node that starts now, or `None` when it is a mapping
    /// key (recorded in `keys` instead).
    fn next_path(&mut self, ev: &Event, pos: Pos) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // A key: only scalar keys are meaningful in a runbook.
                    let k = match ev {
                        Event::Scalar(s, ..) => s.clone(),
                        _ => String::from("?"),
                    };
                    self.keys.insert(join(path, &k), pos);
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos { line: mark.line(), col: mark.col() + 1 };
        match ev {
            Event::Scalar(..) | Event::Alias(..) => {
                if let Some(p) = self.next_path(&ev, pos) {
                    self.values.insert(p, pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let p = self.next_path(&ev, pos).unwrap_or_default();
                // A collection under a key is best pointed at by its key
                // (parsers mark a block mapping where its first key ends);
                // sequence items and the root have no key.
                if !self.keys.contains_key(&p) {
                    self.values.insert(p.clone(), pos);
                }
                self.stack.push(match ev {
                    Event::MappingStart(..) => Frame::Map { path: p, key: None },
                    _ => Frame::Seq { path: p, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// One problem with a runbook, located in its file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
    line: Option<String>,
}

impl Diagnostic {
    pub fn new(src: &Source, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: src.path.clone(),
            pos,
            message: message.into(),
            help: None,
            line: src.line_text(pos.line).map(str::to_string),
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message`, then the line with a caret under the column,
    /// in the style of rustc and just.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.pos.line, self.pos.col, self.message)?;
        if let Some(line) = &self.line {
            let num = self.pos.line.to_string();
            let pad = " ".repeat(num.len());
            let caret = " ".repeat(self.pos.col.saturating_sub(1));
            write!(f, "\n{pad} |\n{num} | {line}\n{pad} | {caret}^")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_nested_values() {
        let text = "version: 1\nsteps:\n  - id: a\n    subnet_ipv6:\n      subnets:\n        - { subnet: x, index: 3 }\n";
        let src = Source::new(Path::new("rb.yaml"), text.to_string());
        assert_eq!(src.pos("version"), Pos { line: 1, col: 10 });
        assert_eq!(src.pos("steps[0].id"), Pos { line: 3, col: 9 });
        assert_eq!(src.pos("steps[0].subnet_ipv6.subnets[0].index"), Pos { line: 6, col: 31 });
        assert_eq!(src.key_pos("steps[0].subnet_ipv6"), Some(Pos { line: 4, col: 5 }));
        // A missing field falls back to its nearest located ancestor.
        assert_eq!(src.pos("steps[0].subnet_ipv6.dns64"), Pos { line: 4, col: 5 });
    }

    #[test]
    fn renders_file_line_column_and_caret() {
        let src = Source::new(Path::new("rb.yaml"), "a: 1\nbb: 2\n".to_string());
        let d = Diagnostic::new(&src, Pos { line: 2, col: 5 }, "bad").help("fix it");
        assert_eq!(d.to_string(), "rb.yaml:2:5: bad\n  |\n2 | bb: 2\n  |     ^\n  = help: fix it");
    }
}
