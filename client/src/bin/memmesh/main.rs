//! `memmesh`: the MemMesh command-line client.
//!
//! With `--json` every command prints exactly one JSON value on stdout (an object, or an array
//! for `list --all`/`history`); a failure prints `{"error": {"code", "message"}}` and exits 1.
//!
//! Layout: [`args`] (the command line and its types), [`commands`] (one function per command;
//! [`consolidation`], [`backup`], [`transfer`] and [`adapter`] for theirs), [`render`] (text and JSON output).

mod adapter;
mod args;
mod backup;
mod commands;
mod consolidation;
mod mcp;
mod render;
mod transfer;

use std::process::ExitCode;

use clap::Parser;
use memmesh_client::proto::{ReadConsistency, ReadOptions};
use memmesh_client::{json, Client};
use tonic::Status;

use args::{Cli, Cmd};
use render::Rendered;

/// Runs one request-response command.
async fn run(cli: Cli) -> Result<Rendered, Status> {
    let mut c = Client::connect(&cli.addr).await.map_err(|e| Status::unavailable(e.to_string()))?;
    let read = Some(ReadOptions { consistency: ReadConsistency::from(cli.consistency) as i32, min_revision: cli.min_revision });
    let c = &mut c;
    match cli.cmd {
        Cmd::Put(a) => commands::put(c, a).await,
        Cmd::Get(a) => commands::get(c, a, read).await,
        Cmd::Update(a) => commands::update(c, a).await,
        Cmd::Delete(a) => commands::delete(c, a).await,
        Cmd::Restore(a) => commands::restore(c, a).await,
        Cmd::Pin(a) => commands::pin(c, a, true).await,
        Cmd::Unpin(a) => commands::pin(c, a, false).await,
        Cmd::Purge(a) => commands::purge(c, a).await,
        Cmd::List(a) => commands::list(c, a, read).await,
        Cmd::Search(a) => commands::search(c, a, read).await,
        Cmd::History(a) => commands::history(c, a, read).await,
        Cmd::Rollback(a) => commands::rollback(c, a).await,
        Cmd::Status => commands::status(c).await,
        Cmd::Cluster(cmd) => commands::cluster(c, cmd).await,
        Cmd::Auth(cmd) => commands::auth(c, cmd).await,
        Cmd::Grant(cmd) => commands::grant(c, cmd).await,
        Cmd::Audit(a) => commands::audit(c, a).await,
        Cmd::Link(a) => consolidation::link(c, a).await,
        Cmd::Consolidate(a) => consolidation::consolidate(c, a).await,
        Cmd::Policy(cmd) => consolidation::policy(c, cmd).await,
        Cmd::Hold(cmd) => consolidation::hold(c, cmd).await,
        Cmd::Backup(a) => backup::backup(c, a).await,
        Cmd::Health => backup::health(c).await,
        Cmd::Export(a) => transfer::export(c, a, cli.json).await,
        Cmd::Import(a) => transfer::import(c, a, cli.json).await,
        Cmd::Feedback(a) => adapter::feedback(c, a).await,
        Cmd::Adapter(cmd) => adapter::adapter(c, cmd).await,
        // Streaming commands print as they go; they have nothing left to render.
        Cmd::Watch(a) => commands::watch(cli.addr, cli.json, a).await.map(|()| Rendered::new(serde_json::Value::Null, String::new())),
        Cmd::Sync(a) => commands::sync(cli.addr, cli.json, a).await.map(|()| Rendered::new(serde_json::Value::Null, String::new())),
        Cmd::Mcp(a) => mcp::serve(c.clone(), a).await.map(|()| Rendered::new(serde_json::Value::Null, String::new())),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every connection (also the reconnecting ones of watch and sync) reads the token from the
    // environment; a --token flag is put there before any thread exists.
    for (var, value) in [
        (memmesh_client::TOKEN_ENV, &cli.token),
        (memmesh_client::CA_ENV, &cli.ca),
        (memmesh_client::CERT_ENV, &cli.cert),
        (memmesh_client::KEY_ENV, &cli.key),
    ] {
        if let Some(v) = value {
            std::env::set_var(var, v);
        }
    }
    let as_json = cli.json;
    let streaming = matches!(cli.cmd, Cmd::Watch(_) | Cmd::Sync(_) | Cmd::Mcp(_));
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(_) if streaming => ExitCode::SUCCESS,
        Ok(r) => {
            if as_json {
                println!("{}", r.json);
            } else if !r.text.is_empty() {
                println!("{}", r.text);
            }
            ExitCode::SUCCESS
        }
        Err(s) => {
            if as_json {
                println!("{}", json::error(&s));
            } else {
                eprintln!("error: {}: {}", json::code_name(s.code()), s.message());
            }
            ExitCode::FAILURE
        }
    }
}
