//! Every request and response variant survives encode → read_frame → decode unchanged.

use std::io::Cursor;

use safeshell_protocol::{
    Action, ApprovalOutcome, ApprovalResolution, ApprovalVerdict, CheckRequest, ClientKind,
    CommandSpec, Containment, ContextHint, ContextHints, Decision, DecisionEvent, Event, EventKind,
    FileAccess, FileAccessKind, Hello, HelloReply, PendingApproval, Problem, ProblemKind, Request,
    Response, StatusReport, Subscribe, Surface, Why, decode, encode, read_frame, write_frame,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Encodes `msg`, reads the frame back from a cursor and decodes it.
fn round_trip<T>(msg: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut frame = Vec::new();
    encode(msg, &mut frame).unwrap();
    let mut cursor = Cursor::new(frame);
    let mut buf = Vec::new();
    let payload = read_frame(&mut cursor, &mut buf)
        .unwrap()
        .expect("one frame");
    let back: T = decode(payload).unwrap();
    assert_eq!(&back, msg);
    assert!(
        read_frame(&mut cursor, &mut buf).unwrap().is_none(),
        "nothing after the frame"
    );
}

fn check(command: CommandSpec, surface: Surface, token: Option<&str>) -> CheckRequest {
    CheckRequest {
        command,
        cwd: "/home/ada/proj".to_owned(),
        surface,
        client_pid: 4242,
        hints: ContextHints {
            safeshell_context: Some("ai".to_owned()),
            agent_markers: strings(&["CLAUDECODE", "CURSOR_AGENT"]),
        },
        env: vec![
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("GIT_DIR".to_owned(), String::new()),
        ],
        token: token.map(str::to_owned),
        approval: safeshell_protocol::ApprovalMode::Auto,
        approval_timeout_secs: Some(55),
    }
}

fn all_surfaces() -> Vec<Surface> {
    vec![
        Surface::PathShim,
        Surface::ShellWrapper,
        Surface::AgentHook {
            agent: "claude-code".to_owned(),
        },
        Surface::Cli,
    ]
}

fn why() -> Why {
    Why {
        origin: "pack `git` (built in)".to_owned(),
        segment: Some("git push --force".to_owned()),
        matched: strings(&["subcommand `push`", "flag `--force`"]),
        suggest: Some("git push --force-with-lease".to_owned()),
    }
}

fn pending() -> PendingApproval {
    PendingApproval {
        approval_id: u64::MAX,
        command: "rm -rf build && git push --force".to_owned(),
        segment: Some("git push --force".to_owned()),
        rule: Some("force-push".to_owned()),
        reason: "force push rewrites shared history".to_owned(),
        cwd: "/home/ada/proj".to_owned(),
        client_pid: u32::MAX,
        program: "git".to_owned(),
        agent: Some("claude-code".to_owned()),
        surface: Surface::ShellWrapper,
        context: ContextHint::Ai,
        created_ms: 1_700_000_000_000,
        deadline_ms: 1_700_000_060_000,
        session_allowed: true,
        session_scope: "same command, same repository, same agent session, 5 minutes".into(),
        why: Some(why()),
    }
}

fn all_event_kinds() -> Vec<EventKind> {
    vec![
        EventKind::Decision(DecisionEvent {
            command: "ls -la".to_owned(),
            cwd: "/".to_owned(),
            surface: Surface::PathShim,
            context: ContextHint::Human,
            action: Action::Allow,
            rule: None,
            reason: "no rule matched".to_owned(),
            latency_us: 87,
            client_pid: 1,
            contained: false,
            why: None,
        }),
        EventKind::ApprovalPending(pending()),
        EventKind::ApprovalResolved {
            approval_id: 3,
            outcome: ApprovalOutcome::Approved { by_session: true },
        },
        EventKind::ApprovalResolved {
            approval_id: 4,
            outcome: ApprovalOutcome::Denied {
                reason: Some("not now".to_owned()),
            },
        },
        EventKind::ApprovalResolved {
            approval_id: 5,
            outcome: ApprovalOutcome::Denied { reason: None },
        },
        EventKind::ApprovalResolved {
            approval_id: 6,
            outcome: ApprovalOutcome::TimedOut,
        },
        EventKind::ApprovalResolved {
            approval_id: 7,
            outcome: ApprovalOutcome::DaemonShutdown,
        },
        EventKind::RulesReloaded {
            rule_count: 42,
            files: strings(&[
                "/etc/safeshell/rules.toml",
                "/home/ada/.safeshell/rules.toml",
            ]),
        },
        EventKind::RulesError {
            file: "rules.toml".to_owned(),
            message: "line 3: unknown action \"nope\"".to_owned(),
        },
        EventKind::Dropped { count: 12 },
        EventKind::Problem(Problem {
            kind: ProblemKind::Config,
            message: "config.toml:3:1: unknown field `shel`".to_owned(),
        }),
        EventKind::ProblemSolved {
            kind: ProblemKind::Log,
            message: "the log is writable again".to_owned(),
        },
    ]
}

fn all_requests() -> Vec<Request> {
    let mut requests = Vec::new();
    for surface in all_surfaces() {
        requests.push(Request::Check(check(
            CommandSpec::Argv(strings(&["git", "push", "origin", "main"])),
            surface.clone(),
            None,
        )));
        requests.push(Request::Check(check(
            CommandSpec::Shell("echo 'héllo wörld' | tee /tmp/x".to_owned()),
            surface,
            Some("tok-123"),
        )));
    }
    requests.push(Request::Check(check(
        CommandSpec::Argv(Vec::new()),
        Surface::Cli,
        Some(""),
    )));
    for access in [
        FileAccessKind::Read,
        FileAccessKind::Write,
        FileAccessKind::Edit,
        FileAccessKind::Search,
        FileAccessKind::List,
        FileAccessKind::Delete,
    ] {
        assert_eq!(FileAccessKind::parse(access.as_str()), Some(access));
        requests.push(Request::Check(check(
            CommandSpec::File(FileAccess {
                tool: "Grep".to_owned(),
                access,
                paths: strings(&["/p/.env", "relative dir"]),
                pattern: (access == FileAccessKind::Search).then(|| "**/*.rs".to_owned()),
            }),
            Surface::AgentHook {
                agent: "claude".to_owned(),
            },
            None,
        )));
    }
    for verdict in [
        ApprovalVerdict::ApproveOnce,
        ApprovalVerdict::ApproveSession,
        ApprovalVerdict::Deny,
        ApprovalVerdict::DenySession,
    ] {
        requests.push(Request::Resolve(ApprovalResolution {
            approval_id: 99,
            verdict,
            reason: Some("because".to_owned()),
        }));
    }
    requests.push(Request::Resolve(ApprovalResolution {
        approval_id: 0,
        verdict: ApprovalVerdict::Deny,
        reason: None,
    }));
    requests.push(Request::Subscribe(Subscribe { history: 0 }));
    requests.push(Request::Subscribe(Subscribe { history: 500 }));
    requests.push(Request::Status);
    requests.push(Request::Ping);
    requests.push(Request::ListPending);
    requests
}

fn all_responses() -> Vec<Response> {
    let mut responses = Vec::new();
    for action in [
        Action::Allow,
        Action::Deny,
        Action::RequireApproval,
        Action::Redirect,
    ] {
        responses.push(Response::Decision(Decision {
            action,
            rule: Some("some-rule".to_owned()),
            reason: "reason".to_owned(),
            agent_message: "message for the agent".to_owned(),
            approval_id: (action == Action::RequireApproval).then_some(17),
            redirect: (action == Action::Redirect)
                .then(|| CommandSpec::Argv(strings(&["trash", "build"]))),
            segment: Some("rm -rf build".to_owned()),
            token: Some("tok".to_owned()),
            contain: (action == Action::Allow).then(|| Containment {
                home: "/home/u".to_owned(),
                state_dir: "/home/u/.safeshell".to_owned(),
                writable: strings(&["~/scratch"]),
                readable: strings(&["~/.config/gh"]),
                no_listen: true,
                protect: strings(&["/work/app/secrets"]),
                read_only: strings(&["~/work/app/vendor"]),
            }),
            why: (action != Action::Allow).then(why),
        }));
    }
    responses.push(Response::Decision(Decision {
        action: Action::Redirect,
        rule: None,
        reason: String::new(),
        agent_message: String::new(),
        approval_id: None,
        redirect: Some(CommandSpec::Shell("git push --force-with-lease".to_owned())),
        segment: None,
        token: None,
        contain: None,
        why: None,
    }));
    responses.push(Response::Resolved {
        approval_id: 17,
        accepted: true,
        message: "approved once".to_owned(),
    });
    responses.push(Response::Resolved {
        approval_id: 18,
        accepted: false,
        message: "no such approval".to_owned(),
    });
    for (seq, kind) in (0u64..).zip(all_event_kinds()) {
        responses.push(Response::Event(Event {
            seq,
            time_ms: 1_700_000_000_000 + seq,
            kind,
        }));
    }
    responses.push(Response::Status(StatusReport {
        pid: 1234,
        version: "0.1.0".to_owned(),
        uptime_ms: 86_400_000,
        rule_count: 42,
        rule_files: strings(&["/etc/safeshell/rules.toml"]),
        rule_errors: strings(&["rules.d/bad.toml: expected a table"]),
        connections: 3,
        decisions_allow: 1000,
        decisions_deny: 12,
        decisions_approval: 4,
        decisions_redirect: 2,
        pending_approvals: 1,
        events_dropped: 0,
        problems: vec![Problem {
            kind: ProblemKind::Audit,
            message: "cannot write the audit log: No space left on device".to_owned(),
        }],
    }));
    responses.push(Response::Pong);
    responses.push(Response::Pending(vec![pending(), pending()]));
    responses.push(Response::Pending(Vec::new()));
    responses.push(Response::Error {
        message: "unexpected request".to_owned(),
    });
    responses
}

#[test]
fn every_request_round_trips() {
    for request in all_requests() {
        round_trip(&request);
    }
}

#[test]
fn every_response_round_trips() {
    for response in all_responses() {
        round_trip(&response);
    }
}

#[test]
fn handshake_round_trips() {
    for client in [
        ClientKind::Shim,
        ClientKind::ShellWrapper,
        ClientKind::Hook,
        ClientKind::Cli,
        ClientKind::Monitor,
    ] {
        round_trip(&Hello::new(client, "0.1.0"));
    }
    round_trip(&HelloReply {
        version: 1,
        daemon_version: "0.1.0".to_owned(),
        accepted: true,
    });
    round_trip(&HelloReply {
        version: 9,
        daemon_version: String::new(),
        accepted: false,
    });
}

#[test]
fn a_conversation_on_one_stream_is_read_in_order() {
    let requests = all_requests();
    let responses = all_responses();

    let mut stream = Vec::new();
    let mut buf = Vec::new();
    write_frame(
        &mut stream,
        &Hello::new(ClientKind::Shim, "0.1.0"),
        &mut buf,
    )
    .unwrap();
    for request in &requests {
        write_frame(&mut stream, request, &mut buf).unwrap();
    }
    for response in &responses {
        write_frame(&mut stream, response, &mut buf).unwrap();
    }

    let mut reader = Cursor::new(stream);
    let hello: Hello = safeshell_protocol::read_message(&mut reader, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(hello, Hello::new(ClientKind::Shim, "0.1.0"));
    for request in &requests {
        let got: Request = safeshell_protocol::read_message(&mut reader, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(&got, request);
    }
    for response in &responses {
        let got: Response = safeshell_protocol::read_message(&mut reader, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(&got, response);
    }
    assert!(
        safeshell_protocol::read_message::<_, Response>(&mut reader, &mut buf)
            .unwrap()
            .is_none()
    );
    // And again: end of stream stays end of stream.
    assert!(read_frame(&mut reader, &mut buf).unwrap().is_none());
}
