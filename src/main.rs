//! The `notionlake` binary: parse arguments, set up logging, run the library, map errors to
//! exit codes (2 bad settings, 1 anything else).

use notionlake::cli::{LogFormat, parse, run};
use tracing_subscriber::EnvFilter;

/// jemalloc rather than the system allocator. A sync decodes and frees millions of small JSON
/// objects; under glibc's malloc each row's objects end up scattered (free-list consolidation
/// after every large Arrow or Parquet buffer), and flattening them was ~40% slower
/// (`benches/flatten.rs`, which uses the same allocator). jemalloc also serves C code's
/// `malloc` (the `unprefixed_malloc_on_supported_platforms` feature): Parquet creates a zstd
/// context of about 1 MiB per column chunk, which glibc maps fresh (and page-faults in) every
/// time, and Parquet encoding was ~15% slower for it.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_tracing(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = parse();
    init_tracing(cli.log_format, cli.verbose);
    if let Err(e) = run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
