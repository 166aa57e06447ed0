//! Findings as OCSF Detection Finding events (class 2004, OCSF 1.3), one JSON object per line,
//! for SIEMs that ingest OCSF.

use serde_json::{Value, json};

use super::Finding;
use super::rules::Action;

/// OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// The OCSF Detection Finding of `f` (category 2 Findings, class 2004, activity 1 Create).
pub fn detection_finding(f: &Finding) -> Value {
    let ms =
        f.at.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // OCSF action_id: 1 Allowed, 2 Denied; disposition_id: 1 Allowed, 2 Blocked, 19 Alert
    // ("Quarantined" is 3, "Isolated" 4).
    let (action_id, action, disposition_id, disposition) = match f.action {
        Action::Alert => (1, "Allowed", 19, "Alert"),
        Action::StopCall => (2, "Denied", 2, "Blocked"),
        Action::Quarantine => (2, "Denied", 3, "Quarantined"),
    };
    json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": ms,
        "severity_id": f.severity.ocsf_id(),
        "severity": capitalised(f.severity.as_str()),
        "status_id": 1,
        "status": "New",
        "message": f.message,
        "action_id": action_id,
        "action": action,
        "disposition_id": disposition_id,
        "disposition": disposition,
        "finding_info": {
            "uid": format!("{}:{}", f.call, f.rule.as_str()),
            "title": format!("{} by {}", f.rule.as_str(), f.tool),
            "desc": f.message,
            "types": [f.rule.as_str()],
            "created_time": ms,
            "analytic": {
                "name": f.rule.as_str(),
                "uid": f.rule.as_str(),
                "type_id": 1,
                "type": "Rule",
            },
        },
        "resources": [{
            "type": "WebAssembly component",
            "name": &*f.tool,
            "uid": &*f.key,
        }],
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "wasmgov",
                "vendor_name": "wasmgov",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "log_name": "wasmgov-findings",
        },
        "unmapped": {
            "call": &*f.call,
            "rule": f.rule.as_str(),
            "wasmgov_action": f.action.as_str(),
            "evidence_seqs": f.evidence,
            "subject": f.subject,
        },
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
