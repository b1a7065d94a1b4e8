//! What every subcommand shares: `--help` with examples and `--json`;
//! colours on a terminal (a pseudo-terminal made by `script(1)`), none when
//! piped or when `NO_COLOR` is set.

mod common;

use std::process::Command;

use common::{amp, plain, stdout};

const SUBCOMMANDS: [&str; 5] = ["decode", "call", "serve", "proxy", "bench"];

#[test]
fn every_subcommand_has_help_with_examples_and_json() {
    for name in SUBCOMMANDS {
        let output = amp(&[name, "--help"]);
        assert!(output.status.success(), "{name}");
        let help = stdout(&output);
        assert!(plain(&help), "{name}: {help}");
        assert!(help.contains("Examples:\n"), "{name}: {help}");
        assert!(help.contains("--json"), "{name}: {help}");
        assert!(help.contains("Exit status:"), "{name}: {help}");
    }
    let top = stdout(&amp(&["--help"]));
    for name in SUBCOMMANDS {
        assert!(top.contains(&format!("  {name} ")), "{top}");
    }
}

/// Runs `amp args` on a pseudo-terminal; what it wrote there.
fn on_a_terminal(args: &str, no_color: bool) -> String {
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_amp"));
    let mut command = Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm");
    if no_color {
        command.env("NO_COLOR", "1");
    } else {
        command.env_remove("NO_COLOR");
    }
    let output = command.output().expect("script(1) runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_terminal_gets_colours_and_a_pipe_does_not() {
    let dir = std::env::temp_dir().join(format!("amp-terminal-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stream.bin");
    let wire = amp_core::AmpBox::from_pairs([("_ask", "1"), ("_command", "Sum"), ("a", "1")])
        .to_bytes()
        .unwrap();
    std::fs::write(&file, &wire).unwrap();
    let path = file.display().to_string();

    let coloured = on_a_terminal(&format!("decode {path}"), false);
    assert!(
        coloured.contains("\u{1b}[36mask Sum tag=1\u{1b}[0m"),
        "{coloured:?}"
    );
    let uncoloured = on_a_terminal(&format!("decode {path}"), true);
    assert!(plain(&uncoloured), "{uncoloured:?}");
    assert!(
        uncoloured.contains("[0] ask Sum tag=1 (32 bytes)"),
        "{uncoloured:?}"
    );
    let piped = stdout(&amp(&["decode", &path]));
    assert!(
        piped.starts_with("[0] ask Sum tag=1 (32 bytes)\n"),
        "{piped:?}"
    );

    // The failure's prefix, on standard error, on a terminal.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let failed = on_a_terminal(&format!("call 127.0.0.1:{port} Sum"), false);
    assert!(
        failed.contains("\u{1b}[31mamp call:\u{1b}[0m cannot connect to"),
        "{failed:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
