//! `wasmgov token add`: a new bearer token for `wasmgov serve --tokens`.

use crate::flags::{TokenAddArgs, TokenCommand};
use crate::report::usage;

/// Run a `token` subcommand.
pub fn run(c: TokenCommand) -> anyhow::Result<i32> {
    match c {
        TokenCommand::Add(a) => add(a),
    }
}

fn add(a: TokenAddArgs) -> anyhow::Result<i32> {
    let subject: wasmgov::policy::Subject =
        a.subject.parse().map_err(|e: String| usage(e, None))?;
    let token = wasmgov_serve::auth::add_token(&a.tokens, &subject)
        .map_err(|e| usage(e.to_string(), Some(e.hint())))?;
    println!("{token}");
    eprintln!(
        "added a token for `{subject}` to {} (only its hash is kept: this is the one time it is shown)",
        a.tokens.display()
    );
    Ok(0)
}
