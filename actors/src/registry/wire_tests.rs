//! The typed replies write the same JSON the engine wrote when it built `serde_json::Value`
//! objects: each case compares the reply's bytes with the object it replaced (built with
//! `json!`, whose keys serialize sorted), so a renamed, reordered, missing or extra key fails.

use serde::Serialize;
use serde_json::{Value, json};

use super::channels::{
    AccountRef, ChannelPairingListReply, ChannelsStatusReply, KindStatus, PairingLimits,
};
use super::nodes::{ApprovalState, NodeList, NodeView, PendingDeviceView};
use super::pairing_ops::{PairingError, PairingReply};
use super::runs::{
    AbortReply, History, HistoryMessage, SessionDefaults, SessionList, SessionMeta, SessionRow,
    TextPart, WaitReply,
};
use super::scheduler::{RunView, WaitStatus};
use crate::channel::{ChannelPairingRequest, ChannelStatus, PairingApproval};
use crate::pairing::{DeviceView, TokenView};
use crate::protocol::error::ErrorCode;

fn same<T: Serialize>(typed: &T, wire: &Value) {
    assert_eq!(
        serde_json::to_string(typed).expect("serializes"),
        wire.to_string()
    );
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn bare_node() -> NodeView {
    NodeView {
        approval_state: ApprovalState::PendingApproval,
        approved_at_ms: None,
        caps: strings(&["system"]),
        client_id: "node-host".into(),
        client_mode: "node".into(),
        commands: Vec::new(),
        connected: false,
        connected_at_ms: None,
        declared_commands: None,
        device_family: None,
        display_name: None,
        host_stats: None,
        last_connected_at_ms: None,
        last_disconnected_at_ms: None,
        last_seen_at_ms: None,
        last_seen_reason: None,
        node_id: "n1".into(),
        paired: false,
        path_env: None,
        pending_request_id: None,
        permissions: None,
        platform: None,
        remote_ip: None,
        ts: None,
        version: None,
    }
}

#[test]
fn node_views_omit_what_is_unknown_and_keep_node_supplied_json() {
    let bare = bare_node();
    same(
        &bare,
        &json!({"nodeId": "n1", "clientId": "node-host", "clientMode": "node", "caps": ["system"],
                "commands": [], "approvalState": "pending-approval", "paired": false,
                "connected": false}),
    );
    let full = NodeView {
        approval_state: ApprovalState::PendingReapproval,
        approved_at_ms: Some(5),
        commands: strings(&["system.run"]),
        connected: true,
        connected_at_ms: Some(7),
        declared_commands: Some(strings(&["system.run", "system.which"])),
        device_family: Some("linux".into()),
        display_name: Some("box".into()),
        host_stats: Some(json!({"cpu": 0.5, "updatedAtMs": 9})),
        last_connected_at_ms: Some(7),
        last_disconnected_at_ms: Some(6),
        last_seen_at_ms: Some(8),
        last_seen_reason: Some("connect"),
        paired: true,
        path_env: Some("/usr/bin".into()),
        pending_request_id: Some("req".into()),
        permissions: Some(Value::Null),
        platform: Some("linux".into()),
        remote_ip: Some("127.0.0.1".into()),
        ts: Some(10),
        version: Some("1.0".into()),
        ..bare
    };
    same(
        &full,
        &json!({"nodeId": "n1", "clientId": "node-host", "clientMode": "node", "caps": ["system"],
                "commands": ["system.run"], "approvalState": "pending-reapproval", "paired": true,
                "connected": true, "displayName": "box", "platform": "linux", "version": "1.0",
                "deviceFamily": "linux", "pendingRequestId": "req",
                "declaredCommands": ["system.run", "system.which"], "approvedAtMs": 5,
                "lastConnectedAtMs": 7, "lastDisconnectedAtMs": 6, "connectedAtMs": 7,
                "lastSeenAtMs": 8, "lastSeenReason": "connect", "remoteIp": "127.0.0.1",
                "pathEnv": "/usr/bin", "permissions": null,
                "hostStats": {"cpu": 0.5, "updatedAtMs": 9}, "ts": 10}),
    );
    for (state, wire) in [
        (ApprovalState::Approved, "approved"),
        (ApprovalState::Unapproved, "unapproved"),
    ] {
        assert_eq!(json!(state), json!(wire));
    }
    same(
        &NodeList {
            nodes: Vec::new(),
            ts: 3,
        },
        &json!({"ts": 3, "nodes": []}),
    );
}

#[test]
fn pairing_replies_are_the_bare_wire_objects() {
    let token = PairingReply::TokenRotated {
        device_id: "d".into(),
        issued_at_ms: 4,
        role: "operator".into(),
        scopes: strings(&["operator.read"]),
        token: "secret".into(),
    };
    same(
        &token,
        &json!({"deviceId": "d", "role": "operator", "token": "secret",
                "scopes": ["operator.read"], "issuedAtMs": 4}),
    );
    same(
        &PairingReply::NodeRejected {
            decision: "rejected",
            node_id: "n".into(),
            request_id: "r".into(),
        },
        &json!({"requestId": "r", "nodeId": "n", "decision": "rejected"}),
    );
    same(
        &PairingReply::TokenRevoked {
            device_id: "d".into(),
            revoked: true,
            role: "node".into(),
        },
        &json!({"deviceId": "d", "role": "node", "revoked": true}),
    );
    let device = DeviceView {
        approved_at_ms: 2,
        approved_via: "operator".into(),
        client_id: "cli".into(),
        client_mode: "cli".into(),
        connected: false,
        created_at_ms: 1,
        device_family: None,
        device_id: "d".into(),
        display_name: Some("laptop".into()),
        last_seen_at_ms: Some(3),
        operator_label: None,
        platform: None,
        public_key: "pk".into(),
        role: "operator".into(),
        roles: strings(&["operator"]),
        scopes: strings(&["operator.read"]),
        tokens: vec![TokenView {
            created_at_ms: 2,
            role: "operator".into(),
            scopes: strings(&["operator.read"]),
        }],
    };
    let pending = PendingDeviceView {
        client_id: "cli".into(),
        client_mode: "cli".into(),
        device_family: None,
        device_id: "d2".into(),
        display_name: None,
        platform: Some("linux".into()),
        public_key: "pk2".into(),
        reason: "not-paired".into(),
        remote_ip: Some("127.0.0.1".into()),
        request_id: "r".into(),
        role: "operator".into(),
        roles: strings(&["operator"]),
        scopes: Vec::new(),
        silent: false,
        ts: 5,
    };
    same(
        &PairingReply::DeviceList {
            paired: vec![device],
            pending: vec![pending],
        },
        &json!({
            "pending": [{"requestId": "r", "deviceId": "d2", "publicKey": "pk2", "clientId": "cli",
                "clientMode": "cli", "role": "operator", "roles": ["operator"], "scopes": [],
                "reason": "not-paired", "silent": false, "ts": 5, "platform": "linux",
                "remoteIp": "127.0.0.1"}],
            "paired": [{"deviceId": "d", "publicKey": "pk", "clientId": "cli", "clientMode": "cli",
                "role": "operator", "roles": ["operator"], "scopes": ["operator.read"],
                "approvedVia": "operator", "createdAtMs": 1, "approvedAtMs": 2,
                "connected": false, "displayName": "laptop", "lastSeenAtMs": 3,
                "tokens": [{"role": "operator", "scopes": ["operator.read"], "createdAtMs": 2}]}],
        }),
    );
}

#[test]
fn pairing_errors_keep_their_wire_codes_and_texts() {
    let cases = [
        (
            PairingError::UnknownRequest,
            ErrorCode::InvalidRequest,
            "unknown requestId",
        ),
        (
            PairingError::RoleNotPaired("node".into()),
            ErrorCode::InvalidRequest,
            "device is not paired for role node",
        ),
        (
            PairingError::ScopeNotApproved("operator.admin".into()),
            ErrorCode::InvalidRequest,
            "scope operator.admin is not approved for this device",
        ),
        (
            PairingError::NoToken,
            ErrorCode::InvalidRequest,
            "no token for that device and role",
        ),
        (
            PairingError::MissingScope("operator.admin".into()),
            ErrorCode::Forbidden,
            "missing scope: operator.admin",
        ),
        (
            PairingError::NotSaved,
            ErrorCode::Unavailable,
            "could not save pairing state; check the state directory",
        ),
    ];
    for (e, code, message) in cases {
        let shape = e.to_shape();
        assert_eq!((shape.code, shape.message.as_str()), (code, message));
    }
    let details = PairingError::MissingScope("operator.admin".into())
        .to_shape()
        .details
        .expect("missing-scope details");
    assert_eq!(details["missingScope"], "operator.admin");
}

#[test]
fn run_replies_match_the_agent_wait_and_abort_objects() {
    let view = RunView {
        ended_at: None,
        error: None,
        run_id: "r".into(),
        session_key: "s".into(),
        started_at: Some(1),
        status: WaitStatus::Timeout,
        text: None,
        media: Vec::new(),
        detail: None,
        delivery: Some(json!({"status": "sent"})),
        tokens: Some(crate::registry::scheduler::RunTokens {
            prompt: 3,
            completion: 4,
        }),
    };
    same(
        &WaitReply::Run(view),
        &json!({"runId": "r", "sessionKey": "s", "status": "timeout", "startedAt": 1,
                "endedAt": null, "text": null, "error": null}),
    );
    let unknown = WaitReply::Failed {
        error: "unknown runId".into(),
        run_id: "x".into(),
        status: WaitStatus::Error,
    };
    same(
        &unknown,
        &json!({"runId": "x", "status": "error", "error": "unknown runId"}),
    );
    assert_eq!(unknown.status(), WaitStatus::Error);
    same(&WaitReply::Gone, &Value::Null);
    same(
        &AbortReply {
            aborted: false,
            ok: true,
            run_ids: Vec::new(),
        },
        &json!({"ok": true, "aborted": false, "runIds": []}),
    );
}

#[test]
fn session_and_history_replies_match_their_objects() {
    let meta = SessionMeta {
        session_id: "id".into(),
        created_at: 1,
        updated_at: 2,
        channel: Some("telegram".into()),
        chat_id: Some(77),
        display_name: None,
        last_message_preview: Some("hi".into()),
        message_count: 2,
        label: None,
        tts: None,
        provider_override: None,
        model_override: None,
        model_override_source: None,
        thinking_level: None,
        compaction_count: 3,
        memory_flush_at: None,
        memory_flush_compaction_count: None,
        input_tokens: Some(1200),
        output_tokens: Some(80),
        total_tokens: Some(1300),
        context_tokens: Some(200_000),
        model_provider: Some("openai".into()),
        model: Some("gpt-5-mini".into()),
        flush_tried_count: None,
        last_interaction_at: None,
        last_account_id: Some("default".into()),
        last_thread_id: Some(5),
        queue_mode: Some("collect".into()),
        queue_cap: None,
        queue_drop: None,
        queue_debounce_ms: Some(1500),
        response_usage: Some("tokens".into()),
    };
    let delivery_context = meta.delivery_context();
    let list = SessionList {
        count: 1,
        defaults: SessionDefaults::of("openai/gpt-5-mini", Some(400_000)),
        has_more: true,
        limit_applied: 1,
        next_offset: None,
        offset: 0,
        path: "/s".into(),
        sessions: vec![SessionRow {
            meta,
            key: "agent:main:main".into(),
            has_active_run: true,
            active_run_ids: strings(&["r"]),
            snapshot_at: 3,
            delivery_context,
            last_channel: Some("telegram".into()),
            last_to: Some("77".into()),
        }],
        total_count: 2,
    };
    assert_eq!(
        json!(list),
        json!({"sessions": [{"sessionId": "id", "createdAt": 1, "updatedAt": 2,
                "channel": "telegram", "chatId": 77, "lastMessagePreview": "hi",
                "messageCount": 2, "compactionCount": 3, "inputTokens": 1200,
                "outputTokens": 80, "totalTokens": 1300, "contextTokens": 200_000,
                "modelProvider": "openai", "model": "gpt-5-mini",
                "lastAccountId": "default", "lastThreadId": 5, "queueMode": "collect", "responseUsage": "tokens",
                "queueDebounceMs": 1500, "key": "agent:main:main", "hasActiveRun": true,
                "activeRunIds": ["r"], "snapshotAt": 3,
                "deliveryContext": {"channel": "telegram", "to": "77", "accountId": "default",
                    "threadId": 5},
                "lastChannel": "telegram", "lastTo": "77"}],
               "count": 1, "totalCount": 2, "limitApplied": 1, "offset": 0,
               "defaults": {"modelProvider": "openai", "model": "gpt-5-mini",
                   "contextTokens": 400_000},
               "nextOffset": null, "hasMore": true, "path": "/s"}),
    );
    let history = History {
        has_more: false,
        messages: vec![HistoryMessage {
            content: vec![TextPart {
                text: "hello".into(),
                kind: "text",
            }],
            role: Some(json!("user")),
            run_id: None,
            sender: Some(json!("Ann")),
            source_id: None,
            timestamp: None,
            meta: Some(super::runs::MessageMeta { id: "m1".into() }),
        }],
        session_id: None,
        session_key: "k".into(),
        defaults: Some(SessionDefaults::of("fake/flow-model", None)),
    };
    same(
        &history,
        &json!({"sessionKey": "k", "sessionId": null, "hasMore": false,
            "defaults": {"modelProvider": "fake", "model": "flow-model", "contextTokens": 200_000},
            "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hello"}], "timestamp": null,
             "sender": "Ann", "__openclaw": {"id": "m1"}}]}),
    );
}

#[test]
fn channel_replies_match_their_objects() {
    let mut details = serde_json::Map::new();
    details.insert("consecutiveFailures".into(), json!(0));
    let status = ChannelStatus {
        account_id: Some("default".into()),
        running: true,
        details,
    };
    assert_eq!(
        json!(status),
        json!({"accountId": "default", "running": true, "consecutiveFailures": 0})
    );
    assert_eq!(
        json!(ChannelStatus::stopped()),
        json!({"running": false, "lastError": "channel actor stopped"})
    );
    let reply = ChannelsStatusReply {
        channel_labels: [("telegram", "Telegram")].into(),
        channel_order: vec!["telegram"],
        channels: [(
            "telegram",
            KindStatus {
                accounts: [("default".to_owned(), ChannelStatus::stopped())].into(),
                configured: true,
                running: false,
            },
        )]
        .into(),
        model: "embedded".into(),
        ts: 4,
    };
    // `ChannelStatus` flattens the channel's own fields, so its keys are in field order:
    // compared as JSON values.
    assert_eq!(
        json!(reply),
        json!({"ts": 4, "channels": {"telegram": {"configured": true, "running": false,
                    "accounts": {"default": {"running": false, "lastError": "channel actor stopped"}}}},
                "channelOrder": ["telegram"], "channelLabels": {"telegram": "Telegram"},
                "model": "embedded"})
    );
    let request = ChannelPairingRequest {
        account_id: "default".into(),
        channel: "telegram",
        code: "ABC".into(),
        created_at_ms: 1,
        expires_at_ms: 2,
        id: "42".into(),
        name: "Ann".into(),
        request_id: "ABC".into(),
        username: None,
    };
    same(
        &ChannelPairingListReply {
            accounts: vec![AccountRef {
                account_id: "default".into(),
                channel: "telegram",
            }],
            limits: PairingLimits {
                pending_per_account: 3,
                ttl_ms: 5,
            },
            requests: vec![request],
        },
        &json!({"accounts": [{"channel": "telegram", "accountId": "default"}],
                "requests": [{"channel": "telegram", "accountId": "default", "requestId": "ABC",
                    "code": "ABC", "id": "42", "name": "Ann", "username": null,
                    "createdAtMs": 1, "expiresAtMs": 2}],
                "limits": {"pendingPerAccount": 3, "ttlMs": 5}}),
    );
    same(
        &PairingApproval {
            account_id: "default".into(),
            approved: true,
            channel: "telegram",
            id: "42".into(),
            request_id: "ABC".into(),
        },
        &json!({"requestId": "ABC", "approved": true, "channel": "telegram",
                "accountId": "default", "id": "42"}),
    );
}

#[test]
fn presence_entries_write_the_objects_they_replaced() {
    use super::presence::PresenceEntry;
    // A client's entry with every optional field (the handshake's former `json!`).
    let full = PresenceEntry {
        client_id: Some("openclaw-macos".into()),
        device_family: Some("Mac".into()),
        device_id: Some("dev-1".into()),
        host: "Laptop".into(),
        instance_id: "inst-1".into(),
        ip: Some("127.0.0.1".into()),
        last_input_seconds: Some(7),
        mode: "ui".into(),
        model_identifier: Some("Mac15,3".into()),
        online_since: Some(1_700_000_000_000),
        platform: "macos".into(),
        reason: "connect".into(),
        roles: Some(["operator".into()]),
        scopes: Some(strings(&["operator.read", "operator.write"])),
        text: "Client: Laptop · mode ui".into(),
        ts: 1_700_000_000_001,
        version: "2026.9.6".into(),
    };
    same(
        &full,
        &json!({
            "host": "Laptop",
            "ip": "127.0.0.1",
            "lastInputSeconds": 7,
            "clientId": "openclaw-macos",
            "version": "2026.9.6",
            "platform": "macos",
            "mode": "ui",
            "roles": ["operator"],
            "scopes": ["operator.read", "operator.write"],
            "instanceId": "inst-1",
            "reason": "connect",
            "onlineSince": 1_700_000_000_000u64,
            "ts": 1_700_000_000_001u64,
            "text": "Client: Laptop · mode ui",
            "deviceFamily": "Mac",
            "modelIdentifier": "Mac15,3",
            "deviceId": "dev-1",
        }),
    );
    // Without the optional client fields they are left out, not null.
    let bare = PresenceEntry {
        device_family: None,
        device_id: None,
        last_input_seconds: None,
        model_identifier: None,
        ..full
    };
    let wire = serde_json::to_value(&bare).expect("serializes");
    for key in [
        "deviceFamily",
        "deviceId",
        "lastInputSeconds",
        "modelIdentifier",
    ] {
        assert!(wire.get(key).is_none(), "{key} in {wire}");
    }
    // The gateway's own entry (the engine's former `json!`).
    let own = PresenceEntry {
        host: "vps".into(),
        version: "0.1.0".into(),
        platform: "linux".into(),
        mode: "gateway".into(),
        reason: "self".into(),
        instance_id: "gw-1".into(),
        text: "Gateway: vps · app 0.1.0 · mode gateway · reason self".into(),
        ts: 5,
        ..PresenceEntry::default()
    };
    same(
        &own,
        &json!({
            "host": "vps",
            "version": "0.1.0",
            "platform": "linux",
            "mode": "gateway",
            "reason": "self",
            "instanceId": "gw-1",
            "text": "Gateway: vps · app 0.1.0 · mode gateway · reason self",
            "ts": 5,
        }),
    );
}
