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
mod manual;
mod output;
mod store;
mod term;
mod time;
mod units;

use std::io::Write as _;
use std::process::ExitCode;

use std::collections::HashMap;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};

use crate::cli::{CONFIG_VARIABLES, Cli, Command, KeysAction};
use crate::commands::Context;
use crate::env::Env;
use crate::error::CliError;
use crate::store::{DataDir, DirSource};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    output::init(cli.output.json, cli.output.quiet, cli.output.verbose);
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit)
        }
    }
}

/// The configuration options given on the command line (not those clap
/// filled from the environment: [`Env::get`] reads those itself, so `.env`
/// fills in only what neither gives).
fn config_flags(matches: &ArgMatches) -> Result<HashMap<&'static str, String>, CliError> {
    let mut flags = HashMap::new();
    for (id, variable) in CONFIG_VARIABLES {
        if matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        if *variable == "CSP_CLIENT_SECRET" {
            return Err(CliError::usage(
                "usage",
                "--client-secret is refused on the command line: other users can read it in the process list",
            )
            .hint("set CSP_CLIENT_SECRET in the environment or in a .env file (mode 0600)"));
        }
        if let Some(value) = matches.get_one::<String>(id) {
            flags.insert(*variable, value.clone());
        }
    }
    Ok(flags)
}

/// `--data-dir` or `AGENT_PASSPORT_HOME`, with the rule that gave it.
fn given_data_dir(cli: &Cli, matches: &ArgMatches) -> Option<(std::path::PathBuf, DirSource)> {
    let dir = cli.config.data_dir.clone()?;
    // A global option is recorded on the subcommand where it was written.
    let from_flag = std::iter::successors(Some(matches), |m| m.subcommand().map(|(_, m)| m))
        .any(|m| m.value_source("data_dir") == Some(ValueSource::CommandLine));
    Some((
        dir,
        if from_flag {
            DirSource::Flag
        } else {
            DirSource::Home
        },
    ))
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<(), CliError> {
    let flags = config_flags(matches)?;
    let data_dir = given_data_dir(&cli, matches);
    match cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "passport", &mut script);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        Command::Inspect(args) => commands::inspect(&args),
        Command::Man(args) => manual::man(args.out.as_deref()),
        command => {
            let ctx = Context::new(Env::load(flags)?, DataDir::locate(data_dir)?);
            match command {
                Command::Login(args) => commands::login(&ctx, &args),
                Command::Issue(args) => commands::issue(&ctx, &args),
                Command::Delegate(args) => commands::delegate(&ctx, &args),
                Command::Verify(args) => commands::verify(&ctx, &args),
                Command::Keys(args) => {
                    commands::keys(&ctx, args.action.unwrap_or(KeysAction::Show))
                }
                Command::Where => commands::where_(&ctx),
                Command::Whoami => commands::whoami(&ctx),
                Command::Logout => commands::logout(&ctx),
                Command::Audit(args) => commands::audit(&ctx, &args),
                Command::Revoke(args) => commands::revoke(&ctx, &args),
                Command::Revocations => commands::revocations(&ctx),
                Command::StatusList(args) => commands::status_list(&ctx, &args),
                Command::Serve(args) => commands::serve(&ctx, &args),
                Command::Completions { .. } | Command::Inspect(_) | Command::Man(_) => Ok(()),
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
