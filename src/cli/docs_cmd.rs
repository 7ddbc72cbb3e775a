//! `okmirror completions SHELL` and `okmirror man`: generated from the clap definitions,
//! so the package's man page and completions can never drift from the binary.

use std::process::ExitCode;

use clap::CommandFactory;
use color_eyre::eyre::{Result, WrapErr};

use super::{Cli, print_out};

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "okmirror", &mut buf);
    print_out(&String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the man page, with one section per subcommand.
pub fn man() -> Result<ExitCode> {
    let mut buf = Vec::new();
    render_man(&mut buf)?;
    print_out(&String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::SUCCESS)
}

/// The page itself: clap_mangen's sections for the top command, then each subcommand's
/// usage and options as a subsection, so `man okmirror` documents every command.
fn render_man(out: &mut Vec<u8>) -> Result<()> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out).wrap_err("rendering the man page")?;
    man.render_name_section(out)
        .wrap_err("rendering the man page")?;
    man.render_synopsis_section(out)
        .wrap_err("rendering the man page")?;
    man.render_description_section(out)
        .wrap_err("rendering the man page")?;
    man.render_options_section(out)
        .wrap_err("rendering the man page")?;
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands() {
        render_sub(out, "", sub)?;
    }
    man.render_version_section(out)
        .wrap_err("rendering the man page")?;
    Ok(())
}

/// One subcommand (and its own subcommands) as a `.SS` section.
fn render_sub(out: &mut Vec<u8>, parent: &str, sub: &clap::Command) -> Result<()> {
    let name = format!("{parent}{}", sub.get_name());
    out.extend_from_slice(format!(".SS \"okmirror {name}\"\n").as_bytes());
    let page = clap_mangen::Man::new(sub.clone().bin_name(format!("okmirror {name}")));
    let mut body = Vec::new();
    page.render_synopsis_section(&mut body)
        .wrap_err("rendering the man page")?;
    page.render_description_section(&mut body)
        .wrap_err("rendering the man page")?;
    page.render_options_section(&mut body)
        .wrap_err("rendering the man page")?;
    // Subsections cannot hold sections: demote the generated headings to bold lines.
    let text = String::from_utf8_lossy(&body).replace(".SH ", ".TP\n.B ");
    out.extend_from_slice(text.as_bytes());
    for s in sub.get_subcommands() {
        render_sub(out, &format!("{name} "), s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_documents_every_command() {
        let mut buf = Vec::new();
        render_man(&mut buf).unwrap();
        let page = String::from_utf8(buf).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH okmirror"),
            "{page:.200}"
        );
        for c in Cli::command().get_subcommands() {
            let heading = format!(".SS \"okmirror {}\"", c.get_name());
            assert!(page.contains(&heading), "missing {heading}");
        }
        assert!(page.contains("okmirror agent manifest"));
        assert!(
            page.contains("\\-\\-allow\\-deletes"),
            "options are rendered"
        );
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut cmd = Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "okmirror", &mut buf);
        let script = String::from_utf8(buf).unwrap();
        assert!(script.contains("switchover"));
        assert!(script.contains("--confirm-node"));
    }
}
