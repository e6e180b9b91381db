//! Unit tests of `nodes.rs`.
use super::*;
use crate::cli::devices::{device_approve_scopes, resolve_device, token_scopes};

fn nodes() -> Vec<Value> {
    vec![
        json!({"nodeId": "aaaa1111", "displayName": "vm", "connected": false, "remoteIp": "10.0.0.1"}),
        json!({"nodeId": "aaaa2222", "displayName": "VM", "connected": true}),
        json!({"nodeId": "bbbb3333", "displayName": "pi"}),
    ]
}

#[test]
fn node_resolution() {
    let n = nodes();
    assert_eq!(
        s(resolve_node(&n, "bbbb3333").expect("id"), "nodeId"),
        "bbbb3333"
    );
    assert_eq!(
        s(resolve_node(&n, "10.0.0.1").expect("ip"), "nodeId"),
        "aaaa1111"
    );
    // Two nodes named vm: the connected one wins.
    assert_eq!(
        s(resolve_node(&n, "vm").expect("name"), "nodeId"),
        "aaaa2222"
    );
    assert_eq!(
        s(resolve_node(&n, "PI").expect("name"), "nodeId"),
        "bbbb3333"
    );
    assert_eq!(
        s(resolve_node(&n, "bbbb").expect("prefix"), "nodeId"),
        "bbbb3333"
    );
    assert!(
        resolve_node(&n, "zzzz")
            .expect_err("unknown")
            .contains("unknown node")
    );
    assert!(resolve_node(&n, "b").is_err(), "prefix too short");
    let two = vec![json!({"nodeId": "cccc1"}), json!({"nodeId": "cccc2"})];
    assert!(
        resolve_node(&two, "cccc")
            .expect_err("amb")
            .contains("ambiguous")
    );
}

#[test]
fn device_resolution() {
    let d = vec![
        json!({"deviceId": "abcd0001", "displayName": "laptop"}),
        json!({"deviceId": "abcd0002"}),
    ];
    assert_eq!(
        s(resolve_device(&d, "Laptop").expect("name"), "deviceId"),
        "abcd0001"
    );
    assert_eq!(
        s(resolve_device(&d, "abcd0002").expect("id"), "deviceId"),
        "abcd0002"
    );
    assert!(
        resolve_device(&d, "abcd")
            .expect_err("amb")
            .contains("ambiguous")
    );
}

#[test]
fn approve_scopes() {
    assert_eq!(
        node_approve_scopes(None),
        vec!["operator.pairing", "operator.admin"]
    );
    let r = json!({"requiredApproveScopes": ["operator.write"]});
    assert_eq!(
        node_approve_scopes(Some(&r)),
        vec!["operator.pairing", "operator.write"]
    );
    let r = json!({"scopes": ["operator.read", "operator.pairing"]});
    assert_eq!(
        token_scopes("node", &[]),
        vec!["operator.pairing", "operator.admin"]
    );
    assert_eq!(
        token_scopes("operator", &["operator.read".into()]),
        vec!["operator.pairing", "operator.read"]
    );
    assert_eq!(
        device_approve_scopes(Some(&r)),
        vec!["operator.pairing", "operator.read"]
    );
}

#[test]
fn tables_align() {
    let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
    assert_eq!(t, "A    BB\nxxx  y");
}
