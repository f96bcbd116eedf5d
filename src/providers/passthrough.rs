//! Faithful pass-through: what each upstream kind does not receive of a request. OpenAI-format
//! upstreams get every parameter (the extras included, as the SDKs' `extra_body` means); the
//! other adapters translate what their provider documents an equivalent for and report the rest
//! here: the executor records each attempt's list on the trace (for its provider's kind only)
//! and the edge writes the answering attempt's as `x-layerr-dropped-params`. Each adapter's
//! `dropped` sits next to the translation it describes.

use serde_json::Value;

use super::ProviderKind;
use crate::llm::{ChatRequest, ThinkingConfig};

/// The target model as the adapters need to know it: its name, and whether it reasons (the
/// catalog's `reasoning`; false for a model the catalog does not know).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Model<'a> {
    pub name: &'a str,
    pub reasoning: bool,
}

/// The parameters of `req` an upstream of `kind` does not receive for `model`, in the client's
/// names (`metadata.<key>` for single metadata keys).
pub fn dropped(kind: ProviderKind, model: Model<'_>, req: &ChatRequest) -> Vec<String> {
    let mut out = match kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => vec![],
        ProviderKind::Anthropic => super::anthropic::dropped(req),
        ProviderKind::Gemini => super::gemini::dropped(req, model),
        ProviderKind::Ollama => super::ollama::dropped(req),
    };
    if kind != ProviderKind::Anthropic && thinking_dropped(kind, model, req) {
        out.insert(0, "thinking".to_string());
    }
    if kind != ProviderKind::Anthropic {
        // Earlier turns' thinking blocks are Anthropic's own: no other upstream takes them back.
        if req.messages.iter().any(|m| !m.reasoning.is_empty()) {
            out.push("thinking blocks".to_string());
        }
    }
    out.dedup();
    out
}

/// Whether a Messages request's `thinking` is lost on an upstream of `kind` (not Anthropic, which
/// takes it as sent). A thinking budget becomes OpenAI's `reasoning_effort` for a reasoning model
/// (`openai::thinking_effort`) and Gemini's `thinkingBudget`; `disabled` is the least effort of
/// an OpenAI reasoning model and a `thinkingBudget` of 0 where Gemini allows it, and is nothing
/// to do for a model that does not reason. OpenAI-compatible servers and Ollama have no
/// equivalent the adapters send; a thinking type the gateway does not know has none anywhere.
fn thinking_dropped(kind: ProviderKind, model: Model<'_>, req: &ChatRequest) -> bool {
    let Some(thinking) = &req.thinking else { return false };
    match (thinking, kind) {
        (ThinkingConfig::Other(_), _) => true,
        (ThinkingConfig::Disabled, _) if !model.reasoning => false,
        (_, ProviderKind::OpenAi) => super::openai::thinking_effort(req, model.name, model.reasoning).is_none(),
        (ThinkingConfig::Enabled { .. }, ProviderKind::Gemini) => false,
        (ThinkingConfig::Disabled, ProviderKind::Gemini) => {
            req.reasoning_effort.is_none() && !super::gemini::can_stop_thinking(model.name)
        }
        _ => true,
    }
}

/// The extras (`ChatRequest::extra`) the client asked for that are not in `translated`. A null
/// or `false` value asks for nothing (`"logprobs": false`, `"store": false`) and is not
/// reported.
pub(crate) fn requested_extras<'a>(req: &'a ChatRequest, translated: &'a [&str]) -> impl Iterator<Item = String> + 'a {
    req.extra
        .iter()
        .filter(|(k, v)| !translated.contains(&k.as_str()) && !matches!(v, Value::Null | Value::Bool(false)))
        .map(|(k, _)| k.clone())
}

/// The header value: `a, b`.
pub fn header_value(dropped: &[String]) -> Option<String> {
    (!dropped.is_empty()).then(|| dropped.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::api::openai::ChatCompletionRequest;

    /// The canonical request of an inbound chat body.
    fn canonical(body: Value) -> ChatRequest {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, val) in body.as_object().unwrap() {
            v[k] = val.clone();
        }
        serde_json::from_value::<ChatCompletionRequest>(v).unwrap().to_canonical().unwrap()
    }

    fn everything() -> Value {
        json!({
            "reasoning_effort": "high", "logprobs": true, "top_logprobs": 3, "logit_bias": {"50256": -100},
            "metadata": {"user_id": "u-1", "tag": "x"}, "store": true, "service_tier": "flex", "verbosity": "low",
            "prompt_cache_key": "k", "safety_identifier": "s", "seed": 7, "top_k": 5,
            "repetition_penalty": 1.1, "prompt_cache_retention": "24h"
        })
    }

    #[test]
    fn an_openai_upstream_receives_every_parameter_as_sent() {
        let req = canonical(everything());
        assert_eq!(req.top_k, Some(5));
        assert_eq!(req.reasoning_effort.as_deref(), Some("high"));
        let wire = serde_json::to_value(ChatCompletionRequest::from_canonical(&req, "gpt", false, &Default::default()))
            .unwrap();
        for (k, v) in everything().as_object().unwrap() {
            assert_eq!(&wire[k], v, "{k}");
        }
        assert!(dropped(ProviderKind::OpenAi, Model::default(), &req).is_empty());
        assert!(dropped(ProviderKind::OpenAiCompatible, Model::default(), &req).is_empty());
    }

    #[test]
    fn a_top_k_that_is_not_a_positive_integer_stays_an_extra() {
        let req = canonical(json!({"top_k": -1}));
        assert_eq!(req.top_k, None);
        assert_eq!(req.extra["top_k"], -1);
        assert_eq!(dropped(ProviderKind::Gemini, Model::default(), &req), ["top_k"]);
    }

    #[test]
    fn anthropic_gets_thinking_top_k_and_the_user_id_and_reports_the_rest() {
        let req = canonical(everything());
        let body =
            serde_json::to_value(super::super::anthropic::build_request(&req, "claude", false).unwrap()).unwrap();
        // top_k rules out thinking (Anthropic refuses the two together).
        assert_eq!(body["top_k"], 5);
        assert!(body.get("thinking").is_none());
        assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
        let d = dropped(ProviderKind::Anthropic, Model::default(), &req);
        for p in [
            "seed",
            "reasoning_effort",
            "metadata.tag",
            "logprobs",
            "top_logprobs",
            "logit_bias",
            "store",
            "service_tier",
            "verbosity",
            "prompt_cache_key",
            "safety_identifier",
            "repetition_penalty",
            "prompt_cache_retention",
        ] {
            assert!(d.iter().any(|x| x == p), "{p} in {d:?}");
        }
        assert!(!d.iter().any(|x| x == "top_k" || x == "metadata.user_id" || x == "metadata"), "{d:?}");

        let req = canonical(json!({"reasoning_effort": "medium", "max_tokens": 100}));
        assert!(
            dropped(ProviderKind::Anthropic, Model::default(), &req).contains(&"reasoning_effort".to_string()),
            "budget > max"
        );
        let req = canonical(json!({"reasoning_effort": "medium", "temperature": 0.2}));
        assert_eq!(dropped(ProviderKind::Anthropic, Model::default(), &req), ["reasoning_effort"]);
        let body = serde_json::to_value(super::super::anthropic::build_request(&req, "c", false).unwrap()).unwrap();
        assert!(body.get("thinking").is_none());
    }

    #[test]
    fn anthropic_thinking_fits_the_budget_under_max_tokens() {
        let req = canonical(json!({"reasoning_effort": "high"}));
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &req).is_empty());
        let body = serde_json::to_value(super::super::anthropic::build_request(&req, "c", false).unwrap()).unwrap();
        assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
        assert_eq!(body["max_tokens"], 4096 + 4096);
        let req = canonical(json!({"reasoning_effort": "low", "max_tokens": 3000}));
        let body = serde_json::to_value(super::super::anthropic::build_request(&req, "c", false).unwrap()).unwrap();
        assert_eq!(body["thinking"]["budget_tokens"], 1024);
        assert_eq!(body["max_tokens"], 3000);
        // `none` is what Anthropic does anyway.
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &canonical(json!({"reasoning_effort": "none"})))
            .is_empty());
    }

    #[test]
    fn gemini_gets_top_k_seed_and_a_thinking_budget() {
        let req = canonical(everything());
        let body = serde_json::to_value(super::super::gemini::build_request(&req).unwrap()).unwrap();
        let config = &body["generationConfig"];
        assert_eq!(config["topK"], 5);
        assert_eq!(config["seed"], 7);
        assert_eq!(config["thinkingConfig"], json!({"thinkingBudget": 24576}));
        let d = dropped(ProviderKind::Gemini, Model::default(), &req);
        assert!(d.contains(&"logit_bias".to_string()) && d.contains(&"metadata".to_string()), "{d:?}");
        assert!(!d.iter().any(|x| x == "top_k" || x == "seed" || x == "reasoning_effort"), "{d:?}");
    }

    #[test]
    fn ollama_gets_its_options_and_reports_reasoning() {
        let mut body = everything();
        body["min_p"] = json!(0.05);
        let req = canonical(body);
        let wire = serde_json::to_value(super::super::ollama::build_request(&req, "llama", false).unwrap()).unwrap();
        assert_eq!(wire["options"]["top_k"], 5);
        assert_eq!(wire["options"]["seed"], 7);
        assert!((wire["options"]["min_p"].as_f64().unwrap() - 0.05).abs() < 1e-6);
        let d = dropped(ProviderKind::Ollama, Model::default(), &req);
        assert!(d.contains(&"reasoning_effort".to_string()) && d.contains(&"logprobs".to_string()), "{d:?}");
        assert!(!d.iter().any(|x| x == "top_k" || x == "seed" || x == "min_p"), "{d:?}");
    }

    #[test]
    fn messages_thinking_becomes_an_effort_for_reasoning_models_and_is_reported_elsewhere() {
        let mut req = canonical(json!({}));
        req.thinking = Some(ThinkingConfig::Enabled { budget_tokens: 3000 });
        let o4 = Model { name: "o4-mini", reasoning: true };
        let gpt4o = Model { name: "gpt-4o", reasoning: false };
        assert!(dropped(ProviderKind::OpenAi, o4, &req).is_empty());
        // A model that does not reason refuses `reasoning_effort`: `thinking` is not sent.
        assert_eq!(dropped(ProviderKind::OpenAi, gpt4o, &req), ["thinking"]);
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &req).is_empty());
        for kind in [ProviderKind::OpenAiCompatible, ProviderKind::Ollama] {
            assert_eq!(dropped(kind, o4, &req).first().map(String::as_str), Some("thinking"), "{kind:?}");
        }
        assert!(dropped(ProviderKind::Gemini, Model::default(), &req).is_empty());
        let body = serde_json::to_value(super::super::gemini::build_request(&req).unwrap()).unwrap();
        assert_eq!(body["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 3000}));
        let effort = super::super::openai::effort;
        assert_eq!(
            [effort(1024), effort(2047), effort(2048), effort(3000), effort(4096)],
            ["low", "low", "medium", "medium", "high"]
        );
        // Earlier thinking blocks reach only Anthropic.
        req.messages[0].reasoning = vec![crate::llm::Reasoning::RedactedThinking { data: "x".into(), before: 0 }];
        assert_eq!(dropped(ProviderKind::OpenAi, o4, &req), ["thinking blocks"]);
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &req).is_empty());
    }

    #[test]
    fn disabled_thinking_is_honoured_where_the_model_thinks_by_default_or_reported() {
        let mut req = canonical(json!({}));
        req.thinking = Some(ThinkingConfig::Disabled);
        let flash = Model { name: "gemini-2.5-flash", reasoning: true };
        let pro = Model { name: "gemini-2.5-pro", reasoning: true };
        let gemini = |m| serde_json::to_value(super::super::gemini::build_for(&req, m).unwrap()).unwrap();
        // Gemini 2.5 Flash thinks unless its budget is 0; 2.5 Pro cannot stop: reported.
        assert_eq!(gemini(flash)["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 0}));
        assert!(dropped(ProviderKind::Gemini, flash, &req).is_empty());
        assert!(gemini(pro).get("generationConfig").is_none_or(|c| c.get("thinkingConfig").is_none()));
        assert_eq!(dropped(ProviderKind::Gemini, pro, &req), ["thinking"]);
        // OpenAI reasoning models get their least effort (openai::least_effort).
        assert!(dropped(ProviderKind::OpenAi, Model { name: "o4-mini", reasoning: true }, &req).is_empty());
        // Reasoning models behind servers without an equivalent: reported.
        let deepseek = Model { name: "deepseek-v4-pro", reasoning: true };
        assert_eq!(dropped(ProviderKind::OpenAiCompatible, deepseek, &req), ["thinking"]);
        // A model that does not reason does what was asked already.
        for kind in [ProviderKind::OpenAi, ProviderKind::OpenAiCompatible, ProviderKind::Gemini, ProviderKind::Ollama] {
            assert!(dropped(kind, Model::default(), &req).is_empty(), "{kind:?}");
        }
        assert!(gemini(Model::default()).get("generationConfig").is_none());
    }

    #[test]
    fn a_thinking_type_the_gateway_does_not_know_reaches_anthropic_unchanged_only() {
        let mut req = canonical(json!({}));
        let adaptive = json!({"type": "adaptive", "effort": "high"});
        req.thinking = Some(ThinkingConfig::Other(adaptive.clone()));
        let body =
            serde_json::to_value(super::super::anthropic::build_request(&req, "claude", false).unwrap()).unwrap();
        assert_eq!(body["thinking"], adaptive);
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &req).is_empty());
        let reasoning = Model { name: "o4-mini", reasoning: true };
        for kind in [ProviderKind::OpenAi, ProviderKind::OpenAiCompatible, ProviderKind::Gemini, ProviderKind::Ollama] {
            assert_eq!(dropped(kind, reasoning, &req), ["thinking"], "{kind:?}");
        }
    }

    /// An answer stopped while thinking: the assistant turn holds reasoning only.
    fn after_a_thinking_only_turn(reasoning: crate::llm::Reasoning) -> ChatRequest {
        let mut req = canonical(json!({}));
        let mut turn = crate::llm::Message::text(crate::llm::Role::Assistant, "");
        turn.content = None;
        turn.reasoning = vec![reasoning];
        req.messages.push(turn);
        req.messages.push(crate::llm::Message::text(crate::llm::Role::User, "go on"));
        req
    }

    #[test]
    fn a_turn_of_reasoning_alone_is_left_out_where_it_cannot_be_carried() {
        let unsigned = crate::llm::Reasoning::Thinking { thinking: "hmm".into(), signature: None, before: 0 };
        let req = after_a_thinking_only_turn(unsigned);
        let roles = |msgs: &Value, key: &str| -> Vec<String> {
            msgs.as_array().unwrap().iter().map(|m| m[key].as_str().unwrap().to_string()).collect()
        };
        let openai =
            serde_json::to_value(ChatCompletionRequest::from_canonical(&req, "gpt", false, &Default::default()))
                .unwrap();
        assert_eq!(roles(&openai["messages"], "role"), ["user", "user"], "{openai}");
        let ollama = serde_json::to_value(super::super::ollama::build_request(&req, "llama", false).unwrap()).unwrap();
        assert_eq!(roles(&ollama["messages"], "role"), ["user", "user"], "{ollama}");
        let gemini = serde_json::to_value(super::super::gemini::build_request(&req).unwrap()).unwrap();
        assert!(gemini["contents"].as_array().unwrap().iter().all(|c| c["role"] == "user"), "{gemini}");
        assert!(gemini["contents"].as_array().unwrap().iter().all(|c| !c["parts"].as_array().unwrap().is_empty()));
        // Anthropic takes only signed thinking back: an unsigned block leaves the turn empty.
        let anthropic =
            serde_json::to_value(super::super::anthropic::build_request(&req, "claude", false).unwrap()).unwrap();
        assert!(anthropic["messages"].as_array().unwrap().iter().all(|m| m["role"] == "user"), "{anthropic}");
        assert!(anthropic["messages"].as_array().unwrap().iter().all(|m| m["content"] != json!([])), "{anthropic}");
        for kind in [
            ProviderKind::OpenAi,
            ProviderKind::OpenAiCompatible,
            ProviderKind::Gemini,
            ProviderKind::Ollama,
            ProviderKind::Anthropic,
        ] {
            assert!(dropped(kind, Model::default(), &req).contains(&"thinking blocks".to_string()), "{kind:?}");
        }
        // A signed block is Anthropic's to take back, the turn with it.
        let signed =
            crate::llm::Reasoning::Thinking { thinking: "hmm".into(), signature: Some("sig".into()), before: 0 };
        let req = after_a_thinking_only_turn(signed);
        let anthropic =
            serde_json::to_value(super::super::anthropic::build_request(&req, "claude", false).unwrap()).unwrap();
        assert_eq!(anthropic["messages"][1]["content"][0]["signature"], "sig", "{anthropic}");
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &req).is_empty());
    }

    #[test]
    fn false_and_null_extras_ask_for_nothing() {
        let req = canonical(json!({"logprobs": false, "store": false, "prompt_cache_key": null}));
        assert!(dropped(ProviderKind::Anthropic, Model::default(), &req).is_empty());
        assert_eq!(header_value(&["a".into(), "b".into()]).as_deref(), Some("a, b"));
        assert_eq!(header_value(&[]), None);
    }
}
