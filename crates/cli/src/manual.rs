//! `passport man`: manual pages generated (clap_mangen) from the same clap
//! definition as `--help` and the completions, so the three never disagree.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};

use crate::cli::Cli;
use crate::error::CliError;
use crate::term::escape;

/// Prints passport(1) on stdout, or writes one page per command into `out`.
pub(crate) fn man(out: Option<&Path>) -> Result<(), CliError> {
    match out {
        None => {
            let page = pages()
                .into_iter()
                .next()
                .map(|(_, page)| page)
                .unwrap_or_default();
            // A closed stdout (`passport man | head`) is not an error.
            let _ = std::io::stdout().write_all(&page);
            Ok(())
        }
        Some(dir) => {
            for path in write_pages(dir)? {
                note!("wrote {}", escape(&path.display().to_string()));
            }
            Ok(())
        }
    }
}

/// Writes every page into `dir` (created if missing); the paths written.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::io("cannot create", dir, &e))?;
    let mut written = Vec::new();
    for (name, page) in pages() {
        let path = dir.join(name);
        std::fs::write(&path, page).map_err(|e| CliError::io("cannot write", &path, &e))?;
        written.push(path);
    }
    Ok(written)
}

/// Every page, `passport.1` first, then each command's (`passport-keys-show.1`)
/// depth first, with its file name.
fn pages() -> Vec<(String, Vec<u8>)> {
    // `passport help` is clap's, not a command of ours: no page, and not
    // listed among the commands.
    let mut root = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its display name (`passport-keys-show`), which
    // names its page.
    root.build();
    let mut pages = Vec::new();
    collect(&root, &mut pages);
    pages
}

fn collect(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
    // clap_mangen would print the after-help as filled text, joining and
    // re-wrapping the example lines: it gets the command without it, and
    // the examples are appended verbatim below.
    let man = Man::new(cmd.clone().after_help(None::<&str>));
    let mut page = Vec::new();
    // Rendering into memory cannot fail; an empty page would be caught by
    // the tests, never by an operator.
    let _ = man.render(&mut page);
    if let Some(after) = cmd.get_after_help() {
        page.extend_from_slice(after_help(&after.to_string()).as_bytes());
    }
    pages.push((man.get_filename(), page));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages);
    }
}

/// A command's after-help as roff: its prose paragraphs under NOTES
/// (filled, as man pages are), its example paragraph under EXAMPLES in
/// no-fill mode, each command line as written.
fn after_help(text: &str) -> String {
    let mut notes = Vec::new();
    let mut examples = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut lines = paragraph.lines();
        match lines.next() {
            Some(first) if first.starts_with("Example") => {
                examples.push(control("nf"));
                examples.extend(lines.map(|line| Roff::from(roman(line))));
                examples.push(control("fi"));
            }
            Some(_) => {
                notes.push(control("PP"));
                notes.push(Roff::from(roman(paragraph.replace('\n', " "))));
            }
            None => {}
        }
    }
    let mut parts = Vec::new();
    if !notes.is_empty() {
        parts.push(heading("NOTES"));
        parts.extend(notes);
    }
    if !examples.is_empty() {
        parts.push(heading("EXAMPLES"));
        parts.extend(examples);
    }
    let section: Roff = parts.into_iter().collect();
    // The page already starts with roff's preamble (which makes `'` print
    // as an apostrophe, not a closing quote: examples are copied).
    let preamble = Roff::default().render();
    let rendered = section.render();
    rendered
        .strip_prefix(&preamble)
        .map_or_else(|| rendered.clone(), str::to_owned)
}

fn control(name: &str) -> Roff {
    let mut roff = Roff::default();
    roff.control(name, []);
    roff
}

fn heading(title: &str) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", [title]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and subcommand, as the words that run it (`["keys",
    /// "show"]`), the root being `[]`.
    fn command_paths() -> Vec<Vec<String>> {
        fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            for sub in cmd.get_subcommands() {
                let mut p = path.clone();
                p.push(sub.get_name().to_owned());
                walk(sub, p, out);
            }
            out.push(path);
        }
        let mut out = Vec::new();
        walk(
            &Cli::command().disable_help_subcommand(true),
            Vec::new(),
            &mut out,
        );
        out
    }

    #[test]
    fn there_is_one_page_per_command_each_naming_its_subcommands() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "passport.1");
        let paths = command_paths();
        assert_eq!(pages.len(), paths.len(), "{names:?}");
        for path in &paths {
            let name = std::iter::once("passport")
                .chain(path.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join("-");
            let (_, page) = pages
                .iter()
                .find(|(n, _)| *n == format!("{name}.1"))
                .unwrap_or_else(|| panic!("no page for {name}: {names:?}"));
            let page = String::from_utf8(page.clone()).unwrap();
            assert!(page.contains(&format!("\n.TH {name} 1 ")), "{page}");
            // Every page carries its examples.
            // Every page carries its examples, unfilled (each line as written).
            assert!(
                page.contains("\n.SH EXAMPLES\n.nf\n  "),
                "{name} has no example"
            );
        }
        // The top page names every command, and `keys` its own.
        let page = |name: &str| {
            String::from_utf8(pages.iter().find(|(n, _)| n == name).unwrap().1.clone()).unwrap()
        };
        let top = page("passport.1");
        assert!(top.contains(".SH SUBCOMMANDS"), "{top}");
        assert!(top.contains(crate::cli::VERSION), "{top}");
        for path in paths.iter().filter(|p| p.len() == 1) {
            assert!(
                top.contains(&format!("passport\\-{}(1)", path[0].replace('-', "\\-"))),
                "passport.1 does not name {}:\n{top}",
                path[0]
            );
        }
        assert!(!top.contains("passport\\-help(1)"), "{top}");
        let keys = page("passport-keys.1");
        for sub in ["show", "jwks", "rotate", "revoke"] {
            assert!(
                keys.contains(&format!("passport\\-keys\\-{sub}(1)")),
                "{keys}"
            );
        }
    }

    #[test]
    fn out_writes_every_page_into_a_new_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("man").join("man1");
        let written = write_pages(&dir).unwrap();
        assert_eq!(written.len(), command_paths().len());
        for path in &written {
            assert!(
                std::fs::metadata(path).unwrap().len() > 0,
                "{}",
                path.display()
            );
        }
        assert!(dir.join("passport-keys-revoke.1").is_file());

        // A file where the directory should be is an io_error, not a panic.
        let file = tmp.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let err = write_pages(&file).unwrap_err();
        assert_eq!((err.code, err.exit), ("io_error", 2));
    }
}
