//! Confirmation before changing AWS. On a terminal: a yes/no question. With
//! no terminal on stdin, nothing can be asked, so the caller must have said
//! `--yes`; the command refuses otherwise.

use std::io::{BufRead, IsTerminal, Write};

/// Whether a person can be asked: answers come from stdin, questions go to
/// stderr, and both must be a terminal.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask `question [y/N]` on stderr; true only for an explicit yes.
pub fn confirm(question: &str) -> bool {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
