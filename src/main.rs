//! The `openclaw` binary: parse the command line, run it, map failures to exit codes.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use clap::Parser;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `openclaw nodes list | head`: a closed stdout is not a crash. Rust ignores SIGPIPE,
    // so `println!` panics on EPIPE; exit quietly (with the shell's SIGPIPE status) instead.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    openclaw::logging::init();
    let cli = openclaw::cli::Cli::parse();
    let json = matches!(&cli.command, openclaw::cli::Command::Gateway(_))
        || matches!(
            &cli.command,
            openclaw::cli::Command::Health(_) | openclaw::cli::Command::Status(_)
        );
    let _ = json;
    let result = actix_web::rt::System::new().block_on(openclaw::cli::run(cli));
    if let Err(f) = result {
        match (&f.json, f.message.is_empty()) {
            (Some(j), _) if wants_json() => println!(
                "{}",
                serde_json::to_string_pretty(j).unwrap_or_else(|_| j.to_string())
            ),
            (_, false) => eprintln!("Error: {}", f.message),
            _ => {}
        }
        std::process::exit(f.code);
    }
    // Exit now rather than waiting for worker threads to wind down.
    std::process::exit(0);
}

fn wants_json() -> bool {
    std::env::args().any(|a| a == "--json")
}
