//! `passport`: the Agent Passport command line (SPEC §6).
#![forbid(unsafe_code)]

/// `println!` that never panics: a closed stdout (`passport … | head -1`)
/// must not turn into a crash. Styles (`output::paint`) reach a terminal
/// only; JSON is never styled.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($arg)*);
    }};
}

/// A message on stderr (silenced by `--quiet`), never panicking on a
/// closed stderr.
macro_rules! note {
    ($($arg:tt)*) => {{
        if !crate::output::quiet() {
            use std::io::Write as _;
            let _ = writeln!(anstream::stderr(), $($arg)*);
        }
    }};
}

mod cli;
mod commands;
mod env;
mod error;
#[cfg(test)]
mod error_codes;
mod files;
mod output;
mod store;
mod term;
mod time;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command, KeysAction};
use crate::commands::Context;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init(cli.output.json, cli.output.quiet, cli.output.verbose);
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

/// `error[code]: message` on stderr, then the hint, even with `--quiet`
/// (labels coloured on a terminal, see [`output`]). Never a token, never a
/// stack trace. Messages quote tokens, providers and files, so they are
/// escaped for the terminal.
fn report(e: &CliError) {
    let mut stderr = anstream::stderr();
    let _ = writeln!(
        stderr,
        "{}: {}",
        output::paint(output::ERROR, format_args!("error[{}]", e.code)),
        term::escape(&e.message)
    );
    if let Some(hint) = &e.hint {
        let _ = writeln!(
            stderr,
            "{}: {}",
            output::paint(output::HINT, "hint"),
            term::escape(hint)
        );
    }
}
