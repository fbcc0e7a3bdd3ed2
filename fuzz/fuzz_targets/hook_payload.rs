//! Fuzz target: arbitrary bytes as an agent hook's JSON input, through the shim's own payload
//! module (included by path: the shim is a binary crate). The first byte picks the agent.
//!
//! Invariants: parsing never panics; a string `command` comes back unchanged; every answer the
//! hook could give renders as the agent's JSON (and Cursor always gets a permission), so a hook
//! never prints something its agent cannot read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[allow(dead_code)]
#[path = "../../shim/src/payload.rs"]
mod payload;

use payload::{Agent, Answer, Subject, parse_payload, render};

const AGENTS: [Agent; 5] = [
    Agent::Claude,
    Agent::Codex,
    Agent::Cursor,
    Agent::Gemini,
    Agent::Copilot,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let agent = AGENTS[usize::from(pick) % AGENTS.len()];
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    if let Ok(Some((subject, _cwd))) = parse_payload(agent, &value) {
        let command = match subject {
            Subject::Command(command) => {
                let raw = match agent {
                    Agent::Cursor => value.get("command"),
                    _ => value.get("tool_input").and_then(|t| t.get("command")),
                };
                if let Some(Value::String(s)) = raw {
                    assert_eq!(&command, s, "a string command must come back unchanged");
                }
                command
            }
            Subject::File(access) => {
                // A file tool always names what it touches (or searches the working directory).
                assert!(access.paths.iter().all(|p| !p.is_empty()), "{access:?}");
                access.describe()
            }
        };
        for answer in [
            Answer::Pass,
            Answer::Allow(command.clone()),
            Answer::Ask(command.clone()),
            Answer::Deny(command.clone()),
        ] {
            let rendered = render(agent, &answer);
            if let Some(v) = &rendered {
                let text = serde_json::to_string(v).expect("answers serialise");
                let back: Value = serde_json::from_str(&text).expect("answers parse back");
                assert_eq!(&back, v);
            }
            if agent == Agent::Cursor {
                assert!(
                    rendered.as_ref().and_then(|v| v.get("permission")).is_some(),
                    "Cursor needs a permission in every answer"
                );
            }
        }
    }
});
