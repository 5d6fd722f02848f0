//! The megascope binary: the app (`megascope [FILE]`) or a headless command.

use clap::Parser;
use megascope::cli::{Cli, dispatch_command};

fn main() {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let code = match dispatch_command(&cli, &mut stdout) {
        Some(Ok(code)) => code,
        Some(Err(f)) => {
            eprintln!("megascope: {}", f.message);
            f.code
        }
        None => match megascope::app::launch(megascope::app::LaunchOptions {
            file: cli.file.clone(),
            bench_frames: cli.bench_frames,
            slots: cli.slots,
            backend: cli.backend,
            variant: cli.variant,
        }) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("megascope: {e}");
                1
            }
        },
    };
    std::process::exit(code);
}
