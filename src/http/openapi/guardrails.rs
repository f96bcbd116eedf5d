//! The guardrail policies' operations and schemas (`/api/admin/guardrails`), kept apart from
//! `paths.rs` and `schemas.rs`, which are long already.

use serde_json::{json, Value};

use super::dsl::{any, arr, dt, en, n, num, obj, op, r, s, sd, strict, uint, Op};

pub fn operations() -> Vec<Op> {
    vec![
        op("get", "/api/admin/guardrails", "admin", "guardrails", "Guardrail policies: the installation's default and each workspace's own")
            .describe("An admin key without `workspace` gets the default policy, every workspace that has its own, and the limits policies are held to; with `workspace`, that workspace's view. A workspace key gets its own workspace's view (the policy its requests run under); naming another workspace is a 403.")
            .q("workspace", s(), "One workspace's view.")
            .errors(&[403, 404])
            .ok(200, "The policies.", one_of_views()),
        op("patch", "/api/admin/guardrails", "admin", "changeGuardrails", "Set or remove a guardrail policy")
            .describe("Replaces the installation's default policy, or with `workspace` that workspace's own (which then replaces the default for its requests); `policy: null` removes it. The policy is compiled under the installation's limits first: a malformed or hostile one (a regular expression over the compiled-size limit or matching empty text, lists over the count or byte limits, duplicate rule ids) is a 400 `VALIDATION_ERROR` naming the field, and the policy in force stays. Admin only. Each change is a `GuardrailsChanged` event.")
            .admin()
            .body(r("GuardrailsChange"))
            .example("pii", json!({"policy": {"rules": [{"id": "pii", "type": "pii", "scope": "both", "action": "redact"}, {"id": "no-injection", "type": "injection", "scope": "input", "action": "block", "threshold": 0.5}]}}))
            .errors(&[404])
            .ok(200, "The policies after the change.", one_of_views()),
    ]
}

fn one_of_views() -> Value {
    super::dsl::one_of(vec![r("Guardrails"), r("WorkspaceGuardrails")])
}

fn rule() -> Value {
    let mut v = obj(&[
        ("id", sd("1 to 64 of A-Z, a-z, 0-9, `.`, `_`, `-`; unique in the policy. Named in violations and decision events.")),
        ("type", en(&["pii", "regex", "terms", "topic", "injection", "maxTokens"])),
        ("?scope", en(&["input", "output", "both"])),
        ("action", en(&["block", "redact", "flag"])),
        ("?kinds", arr(en(&["email", "phone", "card", "iban", "nationalId", "ip", "credential"]))),
        ("?pattern", sd("`regex`: the expression (linear-time syntax, no look-around or back-references).")),
        ("?caseInsensitive", super::dsl::boolean()),
        ("?terms", arr(s())),
        ("?name", sd("`topic`: its name.")),
        ("?keywords", arr(s())),
        ("?minMatches", uint()),
        ("?threshold", num()),
        ("?input", n(uint())),
        ("?output", n(uint())),
    ]);
    v["description"] = json!("One rule. The fields besides id, type, scope and action depend on `type`.");
    v
}

pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        (
            "GuardrailPolicy",
            strict(&[
                ("?failMode", en(&["closed", "open"])),
                ("?streamHoldbackChars", uint()),
                ("rules", arr(rule())),
            ]),
        ),
        (
            "GuardrailsChange",
            strict(&[
                ("?workspace", sd("Absent: the installation's default.")),
                ("policy", any("A `GuardrailPolicy`, or null to remove the policy.")),
            ]),
        ),
        (
            "GuardrailPolicyState",
            obj(&[
                ("policy", r("GuardrailPolicy")),
                ("status", en(&["active", "broken"])),
                ("?error", sd("Why a broken policy does not compile under this node's limits.")),
                ("updatedAt", dt()),
            ]),
        ),
        (
            "WorkspaceGuardrails",
            obj(&[
                ("workspace", s()),
                ("policy", n(r("GuardrailPolicyState"))),
                ("defaultPolicy", n(r("GuardrailPolicyState"))),
                ("effective", en(&["workspace", "default", "none"])),
            ]),
        ),
        (
            "Guardrails",
            obj(&[
                ("defaultPolicy", n(r("GuardrailPolicyState"))),
                ("workspaces", arr(r("WorkspaceGuardrails"))),
                (
                    "limits",
                    obj(&[
                        ("maxRules", uint()),
                        ("maxPatternBytes", uint()),
                        ("maxCompiledBytes", uint()),
                        ("maxTerms", uint()),
                        ("maxTermBytes", uint()),
                        ("maxTotalBytes", uint()),
                        ("maxHoldbackChars", uint()),
                    ]),
                ),
            ]),
        ),
        (
            "GuardrailDecision",
            obj(&[
                ("ruleId", s()),
                ("action", en(&["block", "redact", "flag"])),
                ("side", en(&["input", "output"])),
                ("kind", sd("`pii:email` … `pii:credential`, `regex`, `term`, `topic`, `injection`, `maxTokens:input`, `maxTokens:output`.")),
                ("location", sd("Where: `messages[2].content`, `choices[0].toolCalls[0].arguments`, `prompt`, `maxTokens`.")),
                ("start", uint()),
                ("end", uint()),
                ("?score", num()),
            ]),
        ),
    ]
}
