use clap::Parser;
use mimalloc::MiMalloc;
use std::process::ExitCode;
use telemetry_tracker::cli::{self, Cli, Command};

// Many small, short-lived allocations per request on several threads: mimalloc
// handles that pattern markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Tasks a runtime worker polls between looks for new socket events (tokio's default
/// is 61). Request tasks poll briefly, so under ingest load looking less often picks
/// up more ready connections per look and lets more requests join each group commit:
/// measured on 2 cores, +13 % single events, +8 % batches and /health unchanged.
const RUNTIME_EVENT_INTERVAL: u32 = 256;

fn main() -> ExitCode {
    // No subcommand means `serve`, keeping any flags given.
    let mut cli = Cli::parse();
    if cli.command.is_none() {
        let mut args: Vec<String> = std::env::args().collect();
        args.push("serve".into());
        cli = Cli::parse_from(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .event_interval(RUNTIME_EVENT_INTERVAL)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    let result = runtime.block_on(async move {
        match cli.command.expect("defaulted to serve above") {
            Command::Serve(cfg) => telemetry_tracker::run_server(cli.db, *cfg)
                .await
                .map(|()| None),
            other => {
                telemetry_tracker::init_tracing(false, "warn");
                cli::run(&cli.db, other).await.map(Some)
            }
        }
    });
    match result {
        Ok(Some(out)) => {
            if json {
                println!("{}", out.json);
            } else {
                println!("{}", out.text);
            }
            if out.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                eprintln!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
