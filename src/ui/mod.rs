//! Rendering for people and machines: reporters turn engine events into text
//! or JSON lines; the prompter asks for confirmation on a terminal.

pub mod prompt;
pub mod reporter;
