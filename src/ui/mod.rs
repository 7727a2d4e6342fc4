//! Rendering for people and machines: reporters turn engine events into text
//! lines, a progress display or JSON lines; the prompter and the interactive
//! pilot ask a person on a terminal.

pub mod interactive;
pub mod progress;
pub mod prompt;
pub mod reporter;
