//! Fuzz target: arbitrary text parsed as `config.toml`, through the daemon's own module (included
//! by path: the daemon is a binary crate). Parsing must give settings or an error that names the
//! file, line and column, never panic; settings that parse must describe their changes against
//! the defaults without panicking (the hot-reload path).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../daemon/src/config.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match config::Config::parse(&text, "config.toml") {
        Ok(parsed) => {
            let changed = config::changed_settings(&config::Config::default(), &parsed);
            let _ = config::describe_changes(&changed);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with("config.toml:"),
                "an error must name the file, line and column: {message}"
            );
        }
    }
});
