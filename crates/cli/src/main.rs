//! `passport`: the Agent Passport command line (SPEC §6).
#![forbid(unsafe_code)]

/// `println!` that never panics: a closed stdout (`passport … | head -1`)
/// must not turn into a crash.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics on a closed stderr.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod commands;
mod env;
mod error;
#[cfg(test)]
mod error_codes;
mod files;
mod store;
mod term;
mod time;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command, KeysAction};
use crate::commands::Context;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit)
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "passport", &mut script);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        Command::Inspect(args) => commands::inspect(&args),
        command => {
            let ctx = Context::new()?;
            match command {
                Command::Login(args) => commands::login(&ctx, &args),
                Command::Issue(args) => commands::issue(&ctx, &args),
                Command::Delegate(args) => commands::delegate(&ctx, &args),
                Command::Verify(args) => commands::verify(&ctx, &args),
                Command::Keys(args) => {
                    commands::keys(&ctx, args.action.unwrap_or(KeysAction::Show))
                }
                Command::Where => commands::where_(&ctx),
                Command::Audit(args) => commands::audit(&ctx, &args),
                Command::Revoke(args) => commands::revoke(&ctx, &args),
                Command::Revocations => commands::revocations(&ctx),
                Command::StatusList(args) => commands::status_list(&ctx, &args),
                Command::Completions { .. } | Command::Inspect(_) => Ok(()),
            }
        }
    }
}

/// `error[code]: message` on stderr (red on a terminal unless NO_COLOR),
/// then the hint. Never a token, never a stack trace. Messages quote
/// tokens, providers and files, so they are escaped for the terminal.
fn report(e: &CliError) {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (on, off) = if colour {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    note!("{on}error[{}]{off}: {}", e.code, term::escape(&e.message));
    if let Some(hint) = &e.hint {
        note!("hint: {}", term::escape(hint));
    }
}
