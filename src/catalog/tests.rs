//! The catalog's unit tests: the shipped table, charges, strict loading and overrides.

use std::collections::BTreeMap;

use super::*;

fn builtin() -> &'static Catalog {
    Catalog::builtin()
}

/// A minimal valid chat entry; `extra` lines are appended inside the same `[[models]]` table.
fn one_model(id: &str, extra: &str) -> String {
    format!(
        r#"version = "t"
currency = "USD"
[[models]]
id = "{id}"
provider_type = "custom"
family = "f"
kind = "chat"
category = "balanced"
context_window = 1000
max_output_tokens = 100
streaming = true
tools = false
vision = false
json_mode = false
reasoning = false
input_per_mtok = 3_000_000
output_per_mtok = 15_000_000
ttft_ms = 100
tokens_per_sec = 10
quality = {{ coding = 0.5, reasoning = 0.5, math = 0.5, creative = 0.5, summarization = 0.5, extraction = 0.5, translation = 0.5, classification = 0.5, chat = 0.5 }}
{extra}
"#
    )
}

fn model_err(text: &str) -> (String, String, String) {
    match Catalog::from_toml(text) {
        Err(CatalogError::Model { model, field, message }) => (model, field, message),
        other => panic!("expected a model error, got {other:?}"),
    }
}

#[test]
fn builtin_loads_and_validates() {
    let c = builtin();
    assert_eq!(c.version, "2026-11-01");
    assert_eq!(c.currency, "USD");
    assert_eq!(c.len(), 26);
    for pt in ["openai", "anthropic", "gemini", "ollama", "openai-compatible"] {
        assert!(c.by_provider_type(pt).count() >= 3, "{pt}");
    }
    for m in c.models() {
        assert!(!m.overridden);
        if m.is_chat() {
            let q = m.quality.expect("chat priors");
            assert!(q.iter().all(|(_, v)| (0.0..=1.0).contains(&v)), "{}", m.id);
            assert!(!m.quality_derived.is_empty(), "{}: creative/summarization are always derived", m.id);
        } else {
            assert_eq!(m.max_output_tokens, 0, "{}", m.id);
            assert_eq!(m.output_per_mtok, 0, "{}", m.id);
        }
        if m.provider_type == "ollama" {
            assert_eq!((m.input_per_mtok, m.output_per_mtok), (0, 0), "{}", m.id);
        }
    }
    // The same text parses to the same table (builtin() is not special-cased).
    assert_eq!(&Catalog::from_toml(BUILTIN_TOML).unwrap(), c);
}

#[test]
fn cost_matches_hand_computed_figures() {
    // $3 / $15 per MTok: 1,240 in + 892 out = 3,720 + 13,380 = 17,100 micro-dollars.
    let sonnet = builtin().get("claude-sonnet-4").unwrap();
    assert_eq!((sonnet.input_per_mtok, sonnet.output_per_mtok), (3_000_000, 15_000_000));
    assert_eq!(sonnet.cost_micros(1_240, 892, 0, 0), 17_100);
    // gpt-4.1 at $2 / $8: 10,000 in + 2,000 out = 20,000 + 16,000.
    assert_eq!(builtin().get("gpt-4.1").unwrap().cost_micros(10_000, 2_000, 0, 0), 36_000);
    assert_eq!(sonnet.cost_micros(0, 0, 0, 0), 0);
    // Local models are free.
    assert_eq!(builtin().get("llama3.1:8b").unwrap().cost_micros(1_000_000, 1_000_000, 0, 0), 0);
}

#[test]
fn anthropic_cache_reads_are_ten_percent_and_writes_125_percent() {
    for m in builtin().by_provider_type("anthropic") {
        assert_eq!(m.cached_input_per_mtok.unwrap() * 10, m.input_per_mtok, "{}", m.id);
        assert_eq!(m.cache_write_per_mtok.unwrap() * 4, m.input_per_mtok * 5, "{}", m.id);
    }
    let sonnet = builtin().get("claude-sonnet-4").unwrap();
    // 100,000 cache reads at $0.30 = 30,000; 100,000 cache writes at $3.75 = 375,000.
    assert_eq!(sonnet.cost_micros(0, 0, 100_000, 0), 30_000);
    assert_eq!(sonnet.cost_micros(0, 0, 0, 100_000), 375_000);
    // A realistic turn: 1,240 fresh + 20,000 cached + 5,000 written + 892 out.
    // 3,720 + 6,000 + 18,750 + 13,380 = 41,850.
    assert_eq!(sonnet.cost_micros(1_240, 892, 20_000, 5_000), 41_850);
}

#[test]
fn missing_cache_rates_fall_back_to_the_input_rate() {
    let m = builtin().get("mistral-large-latest").unwrap();
    assert_eq!(m.cached_input_per_mtok, None);
    assert_eq!(m.cost_micros(0, 0, 1_000_000, 1_000_000), 2 * m.input_per_mtok as i64);
    // OpenAI has a cache-read price but no cache-write price.
    let g = builtin().get("gpt-4.1-mini").unwrap();
    assert_eq!(g.cost_micros(0, 0, 1_000_000, 0), 100_000);
    assert_eq!(g.cost_micros(0, 0, 0, 1_000_000), 400_000);
}

#[test]
fn rounding_is_half_up_once_per_charge() {
    let nano = builtin().get("gpt-4.1-nano").unwrap(); // $0.10 in, $0.40 out
    assert_eq!(nano.cost_micros(4, 0, 0, 0), 0); // 0.4
    assert_eq!(nano.cost_micros(5, 0, 0, 0), 1); // 0.5 -> 1
    assert_eq!(nano.cost_micros(14, 0, 0, 0), 1); // 1.4
    assert_eq!(nano.cost_micros(15, 0, 0, 0), 2); // 1.5 -> 2
                                                  // Rounded once on the sum, not per kind: 0.4 + 0.4 = 0.8 -> 1 (per-kind rounding gives 0).
    assert_eq!(nano.cost_micros(4, 1, 0, 0), 1);
    // DeepSeek's sub-cent cache rate: 2,800 micro-dollars per MTok.
    let ds = builtin().get("deepseek-chat").unwrap();
    assert_eq!(ds.cost_micros(0, 0, 1_000, 0), 3); // 2.8
    assert_eq!(ds.cost_micros(0, 0, 178, 0), 0); // 0.4984
    assert_eq!(ds.cost_micros(0, 0, 179, 0), 1); // 0.5012
}

#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let opus = builtin().get("claude-opus-4").unwrap();
    assert_eq!(opus.cost_micros(u64::MAX, u64::MAX, u64::MAX, u64::MAX), i64::MAX);
    // 1e12 tokens at $75/MTok = $75M = 7.5e13 micro-dollars, well inside i64.
    assert_eq!(opus.cost_micros(0, 1_000_000_000_000, 0, 0), 75_000_000_000_000);
}

#[test]
fn lookup_by_id_and_alias() {
    let c = builtin();
    assert_eq!(c.get("claude-sonnet-4-20250514").unwrap().id, "claude-sonnet-4");
    assert_eq!(c.get("gpt-4o-2024-08-06").unwrap().id, "gpt-4o");
    assert_eq!(c.get("deepseek-chat").unwrap().id, "deepseek-v4-flash");
    assert_eq!(c.get("deepseek-reasoner").unwrap().id, "deepseek-v4-flash");
    assert_eq!(c.get("claude-3-5-haiku-latest").unwrap().id, "claude-3-5-haiku");
    assert_eq!(c.get("llama3.1").unwrap().id, "llama3.1:8b");
    assert!(c.get("gpt-4o").unwrap().answers_to("gpt-4o-2024-11-20"));
    assert!(c.get("no-such-model").is_none());
    assert!(c.get("GPT-4O").is_none(), "lookups are exact");
}

#[test]
fn quality_lookup() {
    let c = builtin();
    let o4 = c.get("o4-mini").unwrap();
    assert_eq!(o4.quality_for("math"), o4.quality.unwrap().math);
    assert_eq!(o4.quality_for("poetry-slam"), o4.quality.unwrap().chat);
    assert_eq!(c.get("text-embedding-3-small").unwrap().quality_for("chat"), 0.0);
    // Coding priors order the frontier above the small models.
    assert!(
        c.get("claude-sonnet-4").unwrap().quality_for("coding") > c.get("gpt-4.1-mini").unwrap().quality_for("coding")
    );
}

/// Recompute every prior from `benchmarks` with the rule in docs/CATALOG.md.
#[test]
fn priors_follow_the_documented_normalisation() {
    fn r2(x: f64) -> f64 {
        (x * 100.0 + 0.5).floor() / 100.0
    }
    type Pick = fn(&Benchmarks) -> Option<f64>;
    let mapped: [(&str, Pick); 7] = [
        ("coding", |b| b.swe_bench_verified),
        ("reasoning", |b| b.gpqa_diamond),
        ("math", |b| b.math),
        ("classification", |b| b.mmlu),
        ("extraction", |b| b.drop),
        ("translation", |b| b.mgsm),
        ("chat", |b| b.arena_delta),
    ];
    let chat: Vec<&ModelInfo> = builtin().models().iter().filter(|m| m.is_chat()).collect();
    let best = |pick: Pick| chat.iter().filter_map(|m| m.benchmarks.as_ref().and_then(pick)).fold(f64::MIN, f64::max);
    let sourced = |m: &ModelInfo| -> HashMap<&'static str, f64> {
        let mut out = HashMap::new();
        for (intent, pick) in mapped {
            if let Some(v) = m.benchmarks.as_ref().and_then(pick) {
                let b = best(pick);
                let p = if intent == "chat" { (2.0 / (1.0 + 10f64.powf((b - v) / 400.0))).min(1.0) } else { v / b };
                out.insert(intent, r2(p));
            }
        }
        out
    };
    let src: Vec<HashMap<&str, f64>> = chat.iter().map(|m| sourced(m)).collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let k: HashMap<&str, f64> = mapped
        .iter()
        .filter(|(i, _)| *i != "reasoning")
        .map(|(i, _)| {
            let ratios = src.iter().filter_map(|s| Some(s.get(i)? / s.get("reasoning")?)).collect::<Vec<f64>>();
            (*i, median(ratios))
        })
        .collect();
    for (m, s) in chat.iter().zip(&src) {
        let mut q: HashMap<&str, f64> = s.clone();
        let mut derived: Vec<&str> = Vec::new();
        for (intent, _) in mapped {
            if q.contains_key(intent) {
                continue;
            }
            let v = match s.get("reasoning") {
                Some(r) => r2((r * k[intent]).min(1.0)),
                None => m.category.default_prior() as f64,
            };
            q.insert(intent, v);
            derived.push(intent);
        }
        q.insert("creative", q["chat"]);
        q.insert("summarization", r2((q["extraction"] + q["classification"]) / 2.0));
        derived.extend(["creative", "summarization"]);
        let table = m.quality.unwrap();
        for intent in INTENTS {
            let want = q[intent];
            let got = table.get(intent).unwrap() as f64;
            assert!((want - got).abs() < 0.005, "{}: {intent}: table {got}, rule {want}", m.id);
        }
        let mut want_derived: Vec<&str> = INTENTS.iter().copied().filter(|i| derived.contains(i)).collect();
        let mut got_derived: Vec<&str> = m.quality_derived.iter().map(String::as_str).collect();
        want_derived.sort();
        got_derived.sort();
        assert_eq!(got_derived, want_derived, "{}: quality_derived", m.id);
        assert_eq!(m.quality_sources.is_empty(), m.benchmarks.is_none(), "{}: sources vs benchmarks", m.id);
    }
}

#[test]
fn minimal_table_parses() {
    let c = Catalog::from_toml(&one_model("m1", "aliases = [\"m1-2025\"]")).unwrap();
    assert_eq!(c.get("m1-2025").unwrap().status, ModelStatus::Active);
    assert_eq!(c.get("m1").unwrap().cost_micros(1_240, 892, 0, 0), 17_100);
}

#[test]
fn unknown_field_is_rejected_naming_model_and_field() {
    let (model, field, message) = model_err(&one_model("m1", "prise = 3"));
    assert_eq!(model, "m1");
    assert!(field == "prise" || message.contains("prise"), "{field}: {message}");
    assert!(message.contains("unknown field"), "{message}");
    // Unknown intent inside the quality table.
    let text = one_model("m1", "").replace("chat = 0.5 }", "chat = 0.5, poetry = 0.5 }");
    let (model, field, message) = model_err(&text);
    assert_eq!(model, "m1");
    assert!(field.starts_with("quality"), "{field}");
    assert!(message.contains("poetry"), "{message}");
}

#[test]
fn negative_price_is_rejected() {
    let text = one_model("m1", "").replace("input_per_mtok = 3_000_000", "input_per_mtok = -1");
    let (model, field, message) = model_err(&text);
    assert_eq!((model.as_str(), field.as_str()), ("m1", "input_per_mtok"));
    assert!(message.contains(">= 0"), "{message}");
    let text = one_model("m1", "cached_input_per_mtok = -5");
    assert_eq!(model_err(&text).1, "cached_input_per_mtok");
}

#[test]
fn prior_out_of_range_is_rejected() {
    let text = one_model("m1", "").replace("coding = 0.5", "coding = 1.5");
    let (model, field, message) = model_err(&text);
    assert_eq!((model.as_str(), field.as_str()), ("m1", "quality.coding"));
    assert!(message.contains("outside"), "{message}");
    let text = one_model("m1", "").replace("math = 0.5", "math = -0.1");
    assert_eq!(model_err(&text).1, "quality.math");
    let text = one_model("m1", "").replace("math = 0.5", "math = nan");
    assert_eq!(model_err(&text).1, "quality.math");
}

#[test]
fn chat_models_need_every_intent() {
    let text = one_model("m1", "").replace("translation = 0.5, ", "");
    let (model, field, message) = model_err(&text);
    assert_eq!(model, "m1");
    assert!(field.starts_with("quality"), "{field}");
    assert!(message.contains("translation"), "{message}");
    // And the whole table.
    let no_quality: String =
        one_model("m1", "").lines().filter(|l| !l.starts_with("quality")).collect::<Vec<_>>().join("\n");
    assert_eq!(model_err(&no_quality).1, "quality");
}

#[test]
fn duplicate_ids_and_aliases_are_rejected() {
    let dup_id =
        format!("{}[[models]]{}", one_model("m1", ""), one_model("m1", "").split_once("[[models]]").unwrap().1);
    let (model, field, message) = model_err(&dup_id);
    assert_eq!((model.as_str(), field.as_str()), ("m1", "id"));
    assert!(message.contains("already"), "{message}");

    let alias_clash = format!(
        "{}[[models]]{}",
        one_model("m1", ""),
        one_model("m2", "aliases = [\"m1\"]").split_once("[[models]]").unwrap().1
    );
    let (model, field, message) = model_err(&alias_clash);
    assert_eq!((model.as_str(), field.as_str()), ("m2", "aliases"));
    assert!(message.contains("`m1`"), "{message}");

    let self_alias = one_model("m1", "aliases = [\"m1\"]");
    assert_eq!(model_err(&self_alias).1, "aliases");
}

#[test]
fn other_invalid_tables() {
    // Missing version.
    let text = one_model("m1", "").replace("version = \"t\"\n", "");
    match Catalog::from_toml(&text) {
        Err(CatalogError::Table { message, .. }) => assert!(message.contains("version"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Unknown top-level key.
    let text = format!("colour = 1\n{}", one_model("m1", ""));
    assert!(matches!(Catalog::from_toml(&text), Err(CatalogError::Table { .. })));
    // Syntax error.
    assert!(matches!(Catalog::from_toml("version = "), Err(CatalogError::Syntax(_))));
    // Kind and category must agree.
    let text = one_model("m1", "").replace("category = \"balanced\"", "category = \"embedding\"");
    assert_eq!(model_err(&text).1, "category");
    // Bad enum value names the field.
    let text = one_model("m1", "").replace("kind = \"chat\"", "kind = \"vision\"");
    assert_eq!(model_err(&text).1, "kind");
    // Output limit above the context window.
    let text = one_model("m1", "").replace("max_output_tokens = 100", "max_output_tokens = 5000");
    assert_eq!(model_err(&text).1, "max_output_tokens");
    // A model without an id is named by position.
    let text = one_model("m1", "").replace("id = \"m1\"\n", "");
    assert_eq!(model_err(&text).0, "models[0]");
    // quality_derived may only name intents.
    let text = one_model("m1", "quality_derived = [\"vibes\"]");
    assert_eq!(model_err(&text).1, "quality_derived");
}

#[test]
fn overrides_patch_prices_and_capabilities() {
    let base = builtin();
    let o = ModelOverride {
        id: "gpt-4o-2024-08-06".into(), // by alias
        input_per_mtok: Some(2_750_000),
        context_window: Some(64_000),
        max_output_tokens: Some(8_000),
        tools: Some(false),
        quality: Some(BTreeMap::from([("coding".to_string(), 1.7)])),
        ..Default::default()
    };
    let c = base.with_overrides(&[o]);
    let m = c.get("gpt-4o").unwrap();
    assert!(m.overridden);
    assert_eq!(m.input_per_mtok, 2_750_000);
    assert_eq!(m.output_per_mtok, 10_000_000, "untouched fields stay");
    assert_eq!((m.context_window, m.max_output_tokens, m.tools), (64_000, 8_000, false));
    assert_eq!(m.quality_for("coding"), 1.0, "clamped");
    assert_eq!(m.cost_micros(1_000, 0, 0, 0), 2_750);
    assert_eq!(c.version, base.version);
    assert_eq!(c.len(), base.len());
    // The base is untouched.
    assert_eq!(base.get("gpt-4o").unwrap().input_per_mtok, 2_500_000);
    assert!(!c.get("gpt-4.1").unwrap().overridden);
}

#[test]
fn overrides_add_models_for_custom_providers() {
    let text = r#"
id = "acme-large"
providerType = "openai-compatible"
contextWindow = 32000
maxOutputTokens = 4000
inputPerMtok = 1_000_000
outputPerMtok = 2_000_000
cachedInputPerMtok = 250_000
tools = true
aliases = ["acme/large", "gpt-4.1"]
quality = { coding = 0.6 }
"#;
    let o: ModelOverride = toml::from_str(text).unwrap();
    let c = Catalog::builtin().with_overrides(std::slice::from_ref(&o));
    assert_eq!(c.len(), 27);
    let m = c.get("acme/large").unwrap();
    assert_eq!(m.id, "acme-large");
    assert_eq!((m.kind, m.category), (ModelKind::Chat, Category::Balanced));
    assert_eq!(m.cost_micros(1_000, 1_000, 1_000, 0), 3_250);
    assert_eq!(m.quality_for("coding"), 0.6);
    assert_eq!(m.quality_for("math"), Category::Balanced.default_prior());
    assert!(!m.quality_derived.contains(&"coding".to_string()));
    assert_eq!(m.quality_derived.len(), 8);
    assert_eq!(c.get("gpt-4.1").unwrap().id, "gpt-4.1", "an alias naming another model is skipped");
    // The lenient result is itself a valid catalog.
    assert!(c.clone().validated().is_ok());
    // The strict variant rejects that alias.
    match Catalog::builtin().try_with_overrides(&[o]) {
        Err(CatalogError::Model { model, field, message }) => {
            assert_eq!((model.as_str(), field.as_str()), ("acme-large", "aliases"));
            assert!(message.contains("gpt-4.1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn strict_overrides_reject_bad_input() {
    let base = builtin();
    let missing_price = ModelOverride {
        id: "acme-small".into(),
        provider_type: Some("acme".into()),
        context_window: Some(8_000),
        input_per_mtok: Some(1),
        ..Default::default()
    };
    let e = base.try_with_overrides(std::slice::from_ref(&missing_price)).unwrap_err();
    assert_eq!(e, CatalogError::model("acme-small", "outputPerMtok", "required when the override adds a new model"));
    let ok = ModelOverride { output_per_mtok: Some(2), ..missing_price };
    assert_eq!(base.try_with_overrides(&[ok]).unwrap().get("acme-small").unwrap().provider_type, "acme");

    let bad_prior = ModelOverride {
        id: "gpt-4o".into(),
        quality: Some(BTreeMap::from([("math".to_string(), -0.2)])),
        ..Default::default()
    };
    let e = base.try_with_overrides(&[bad_prior]).unwrap_err();
    assert!(
        matches!(&e, CatalogError::Model { model, field, .. } if model == "gpt-4o" && field == "quality.math"),
        "{e}"
    );
    let bad_intent = ModelOverride {
        id: "gpt-4o".into(),
        quality: Some(BTreeMap::from([("vibes".to_string(), 0.2)])),
        ..Default::default()
    };
    assert!(base.try_with_overrides(&[bad_intent]).is_err());
    // Patching an existing model needs no price.
    let patch = ModelOverride { id: "o4-mini".into(), vision: Some(false), ..Default::default() };
    assert!(!base.try_with_overrides(&[patch]).unwrap().get("o4-mini").unwrap().vision);
}

#[test]
fn model_override_is_strict_camel_case() {
    let e = toml::from_str::<ModelOverride>("id = \"x\"\ninput_per_mtok = 5").unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let o: ModelOverride = toml::from_str("id = \"x\"\ninputPerMtok = 5\njsonMode = true").unwrap();
    assert_eq!((o.input_per_mtok, o.json_mode), (Some(5), Some(true)));
    assert!(toml::from_str::<ModelOverride>("id = \"x\"\ninputPerMtok = -5").is_err());
}

#[test]
fn error_messages_read_well() {
    let e = CatalogError::model("gpt-4o", "input_per_mtok", "price must be >= 0 micro-dollars, got -1");
    assert_eq!(e.to_string(), "model `gpt-4o`: field `input_per_mtok`: price must be >= 0 micro-dollars, got -1");
}
