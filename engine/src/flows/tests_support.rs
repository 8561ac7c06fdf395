//! Definitions the flow tests share.

/// DESIGN.md's VIP flow, verbatim.
pub const VIP_FLOW: &str = r#"{ "name": "vip_upgrade", "label": {"zh": "累计消费超过5000元升级VIP"}, "enabled": true,
  "trigger": {"type": "record_updated", "entity": "patient", "fields": ["total_spent"]},
  "nodes": [
    {"id": "check",   "type": "condition", "expr": "record.total_spent > 5000 && record.tier != \"VIP\""},
    {"id": "upgrade", "type": "update_record", "set": {"tier": "VIP", "vip_since": {"expr": "today()"}}},
    {"id": "notify",  "type": "send_message", "channel": "sms", "to": {"expr": "record.phone"},
     "template": "尊敬的{{record.name}}，您已升级为VIP会员。"}],
  "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "to": "upgrade", "when": "true"},
            {"from": "upgrade", "to": "notify"}] }"#;
