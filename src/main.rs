//! The megascope binary: the app (`megascope [FILE]`) or a headless command.

use clap::Parser;
use megascope::cli::{Cli, Failure, check_app_file, dispatch_command};

fn main() {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = match dispatch_command(&cli, &mut stdout) {
        Some(r) => r,
        None => open_app(&cli),
    };
    let code = match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("megascope: {}", f.message);
            f.code
        }
    };
    std::process::exit(code);
}

/// Opens the app; a file that cannot be opened is said on stderr before any window.
fn open_app(cli: &Cli) -> Result<i32, Failure> {
    if let Some(f) = &cli.file {
        check_app_file(f)?;
    }
    megascope::app::launch(megascope::app::LaunchOptions {
        file: cli.file.clone(),
        bench_frames: cli.bench_frames,
        slots: cli.slots,
        backend: cli.backend,
        variant: cli.variant,
        tenants: cli.tenants,
    })
    .map(|()| 0)
    .map_err(Failure::runtime)
}
