//! The `dualstack` binary: parse arguments, run the command, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match dualstack::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap uses 0 for --help/--version and 2 for usage errors, as we do.
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let code = dualstack::commands::main(cli);
    ExitCode::from(code as u8)
}
