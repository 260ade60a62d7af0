use anyhow::Context;
use clap::Parser;
use server::{
    cli::{Cli, Command, IdentityKind, LogFormat},
    startup::{shutdown_signal, Application, Settings},
};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    keep_large_allocations_out_of_the_heap();
    if server::lambda::detected() {
        // REST API events: route on the path the API was called with, without its stage
        // (lambda_http would put `/<stage>` in front). Set before any thread starts.
        std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    }
    let cli = Cli::parse();
    // Blocking tasks are database calls, which share one connection anyway: a few threads serve
    // them as fast as tokio's default of 512 would, and a burst of requests cannot start
    // hundreds of threads (each with its own stack and allocator arena).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Errors are for people: the message and its causes, no backtrace.
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives an allocation above its mmap threshold a mapping of its own, returned to the system
/// when freed, but it raises the threshold to the size of each such block freed, after which
/// blocks that size come from its heaps and stay resident: every argon2 check (19 MiB, one at a
/// time) grew the process by 19 MiB until seven were resident. A fixed 1 MiB threshold keeps big,
/// short-lived blocks out of the heaps. (musl, and other allocators, map big blocks anyway.)
fn keep_large_allocations_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        // aws-config warns about every source it tries (IMDS off EC2); our errors say what is missing.
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=error"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // The current span carries the request id (see `http_stack`).
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }

    match cli.command.unwrap_or(Command::Serve) {
        Command::Admin(command) => {
            if cli.backends.identity == IdentityKind::Cognito {
                anyhow::bail!(
                    "with --identity cognito, users live in the Cognito user pool: manage them \
                     with the AWS console or CLI (see README, \"Running on AWS\")"
                );
            }
            server::admin_cli::run(command, &cli.data_dir).await
        }
        Command::InitTable => server::table_cli::init_table(&cli.backends.table).await,
        Command::Seed { count } => {
            let db = server::embedded_db::EmbeddedDb::open(&cli.data_dir)?;
            let added = server::seed_cli::seed(&db, count).await?;
            println!(
                "added {added} synthetic subscribers to {}",
                db.path().display()
            );
            Ok(())
        }
        Command::Recount => server::table_cli::recount(&cli.backends.table).await,
        Command::Mail(command) => server::mail_cli::run(command, &cli.mail, &cli.data_dir).await,
        Command::Issue(command) => {
            server::issue_cli::run(command, &cli.backends, &cli.mail, &cli.list, &cli.data_dir)
                .await
        }
        Command::Subscribers(command) => {
            server::subscribers_cli::run(command, &cli.backends, &cli.data_dir).await
        }
        Command::BenchSigv4 => {
            println!("{}", server::sigv4_bench::run());
            Ok(())
        }
        Command::Serve if server::lambda::detected() => {
            let settings =
                Settings::from_env(cli.data_dir, cli.serve, cli.backends, cli.mail, cli.list)?;
            server::startup::serve_lambda(settings).await
        }
        Command::Serve => {
            // One shutdown signal, for the site and the metrics listener.
            let (stop, stopped) = tokio::sync::watch::channel(());
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = stop.send(());
            });
            let until_stopped = move || {
                let mut stopped = stopped.clone();
                async move {
                    let _ = stopped.changed().await;
                }
            };
            if let Some(addr) = cli.serve.metrics_addr {
                let (bound, serve) = server::metrics::start(addr, until_stopped()).await?;
                // Printed before the site's line, which tests wait for.
                println!("metrics on http://{bound}/metrics");
                tracing::info!("metrics on http://{bound}/metrics");
                tokio::spawn(serve);
            }
            let settings =
                Settings::from_env(cli.data_dir, cli.serve, cli.backends, cli.mail, cli.list)?;
            let app = Application::build(settings).await?;
            let addr = app.local_addr().context("reading the bound address")?;
            // Tests start the server on port 0 and read this line to find it.
            println!("listening on http://{addr}");
            tracing::info!("listening on http://{addr}");
            app.run_until(until_stopped()).await
        }
    }
}
