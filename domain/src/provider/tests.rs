use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Provider>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn settings() -> ProviderSettings {
    ProviderSettings {
        name: "OpenAI prod".into(),
        kind: "openai".into(),
        base_url: "https://api.openai.com/v1".into(),
        models: vec!["gpt-4o".into(), "gpt-4o-mini".into()],
        status: ProviderStatus::Active,
        workspace: None,
        credential: Some(CredentialRef { secret_id: "sec_1".into(), fingerprint: "ab12".into(), named: false }),
        model_overrides: vec![],
    }
}

fn registered() -> ProviderEvent {
    ProviderEvent::ProviderRegistered {
        id: "openai-prod".into(),
        settings: settings(),
        incarnation: None,
        url_source: Some(UrlSource::Admin),
        at: at(),
    }
}

fn register(id: &str, settings: ProviderSettings) -> ProviderCommand {
    ProviderCommand::RegisterProvider { id: id.into(), settings, incarnation: None, source: UrlSource::Admin, at: at() }
}

fn scoped(ws: &str) -> ProviderSettings {
    ProviderSettings { workspace: Some(ws.into()), ..settings() }
}

#[test]
fn registers_a_valid_provider() {
    F::with(())
        .given_no_previous_events()
        .when(register("openai-prod", settings()))
        .then_expect_events(vec![registered()]);
}

#[test]
fn refuses_bad_type_url_id_and_duplicates() {
    let mut s = settings();
    s.kind = "cohere".into();
    F::with(()).given_no_previous_events().when(register("p1", s)).then_expect_error(ProviderError::Invalid(
        "type must be one of openai, anthropic, ollama, gemini, openai-compatible".into(),
    ));
    let mut s = settings();
    s.base_url = "ftp://x".into();
    F::with(())
        .given_no_previous_events()
        .when(register("p1", s))
        .then_expect_error(ProviderError::Invalid("baseUrl must be an http:// or https:// URL".into()));
    F::with(())
        .given_no_previous_events()
        .when(register("Bad Id", settings()))
        .then_expect_error(ProviderError::Invalid(ID_RULE.into()));
    F::with(())
        .given(vec![registered()])
        .when(register("openai-prod", settings()))
        .then_expect_error(ProviderError::AlreadyExists("openai-prod".into()));
}

#[test]
fn update_records_before_and_after_and_no_op_is_silent() {
    let mut after = settings();
    after.models = vec!["gpt-4.1".into()];
    after.status = ProviderStatus::Disabled;
    F::with(())
        .given(vec![registered()])
        .when(ProviderCommand::UpdateProvider {
            patch: ProviderPatch {
                models: Some(vec!["gpt-4.1".into()]),
                status: Some(ProviderStatus::Disabled),
                ..Default::default()
            },
            source: UrlSource::Workspace,
            at: at(),
        })
        .then_expect_events(vec![ProviderEvent::ProviderUpdated {
            before: settings(),
            after,
            url_source: None,
            at: at(),
        }]);
    F::with(())
        .given(vec![registered()])
        .when(ProviderCommand::UpdateProvider {
            patch: ProviderPatch { name: Some("OpenAI prod".into()), ..Default::default() },
            source: UrlSource::Workspace,
            at: at(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn credential_rotation_and_removal() {
    let new = CredentialRef { secret_id: "sec_2".into(), fingerprint: "cd34".into(), named: false };
    F::with(())
        .given(vec![registered()])
        .when(ProviderCommand::SetCredential { credential: Some(new.clone()), at: at() })
        .then_expect_events(vec![ProviderEvent::ProviderCredentialChanged {
            before: settings().credential,
            after: Some(new),
            at: at(),
        }]);
    F::with(())
        .given(vec![registered(), ProviderEvent::ProviderRemoved { reason: None, at: at() }])
        .when(ProviderCommand::RemoveProvider { reason: None, at: at() })
        .then_expect_error(ProviderError::NotFound);
    F::with(())
        .given(vec![registered(), ProviderEvent::ProviderRemoved { reason: None, at: at() }])
        .when(register("openai-prod", settings()))
        .then_expect_events(vec![registered()]);
}

#[test]
fn credentials_in_the_base_url_are_refused() {
    for url in ["https://user:sk-live-1@api.example.com/v1", "https://api.example.com/v1?api_key=sk-live-1"] {
        let s = ProviderSettings { base_url: url.into(), ..settings() };
        let err = s.validate().unwrap_err();
        assert!(err.contains("apiKey"), "{url}: {err}");
        F::with(()).given_no_previous_events().when(register("p1", s)).then_expect_error(ProviderError::Invalid(err));
    }
}

#[test]
fn qualified_ids_belong_to_their_workspace() {
    F::with(()).given_no_previous_events().when(register("acme.local", scoped("acme"))).then_expect_events(vec![
        ProviderEvent::ProviderRegistered {
            id: "acme.local".into(),
            settings: scoped("acme"),
            incarnation: None,
            url_source: Some(UrlSource::Admin),
            at: at(),
        },
    ]);
    for (id, s) in [("acme.local", scoped("beta")), ("acme.local", settings())] {
        F::with(()).given_no_previous_events().when(register(id, s)).then_expect_error(ProviderError::Invalid(
            "an id qualified with 'acme.' belongs to a provider or strategy of workspace 'acme'".into(),
        ));
    }
    for bad in ["acme.", ".local", "a.b.c", "-x.local", "acme.l"] {
        assert!(validate_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_later_life_of_the_same_workspace_supersedes_a_leftover() {
    let held = ProviderEvent::ProviderRegistered {
        id: "acme.local".into(),
        settings: scoped("acme"),
        incarnation: Some(1),
        url_source: Some(UrlSource::Workspace),
        at: at(),
    };
    let again = |incarnation| ProviderCommand::RegisterProvider {
        id: "acme.local".into(),
        settings: scoped("acme"),
        incarnation,
        source: UrlSource::Workspace,
        at: at(),
    };
    F::with(()).given(vec![held.clone()]).when(again(Some(2))).then_expect_events(vec![
        ProviderEvent::ProviderRemoved { reason: Some(RemovalReason::WorkspaceDeleted), at: at() },
        ProviderEvent::ProviderRegistered {
            id: "acme.local".into(),
            settings: scoped("acme"),
            incarnation: Some(2),
            url_source: Some(UrlSource::Workspace),
            at: at(),
        },
    ]);
    // The same life, an unknown one, or another workspace: still taken.
    for incarnation in [Some(1), None] {
        F::with(())
            .given(vec![held.clone()])
            .when(again(incarnation))
            .then_expect_error(ProviderError::AlreadyExists("acme.local".into()));
    }
}

#[test]
fn setting_the_url_records_who_set_it() {
    let ws_registered = ProviderEvent::ProviderRegistered {
        id: "acme.local".into(),
        settings: scoped("acme"),
        incarnation: Some(1),
        url_source: Some(UrlSource::Workspace),
        at: at(),
    };
    let same_url = ProviderPatch { base_url: Some(settings().base_url), ..Default::default() };
    // An admin re-setting the same URL vouches for it: an event, with no settings change.
    F::with(())
        .given(vec![ws_registered.clone()])
        .when(ProviderCommand::UpdateProvider { patch: same_url.clone(), source: UrlSource::Admin, at: at() })
        .then_expect_events(vec![ProviderEvent::ProviderUpdated {
            before: scoped("acme"),
            after: scoped("acme"),
            url_source: Some(UrlSource::Admin),
            at: at(),
        }]);
    F::with(())
        .given(vec![ws_registered])
        .when(ProviderCommand::UpdateProvider { patch: same_url, source: UrlSource::Workspace, at: at() })
        .then_expect_events(vec![]);
}

#[test]
fn version_1_0_payloads_still_read() {
    let old = serde_json::json!({"ProviderRegistered": {"id": "p1", "settings": {
        "name": "p", "type": "openai", "baseUrl": "https://api.openai.com/v1", "models": [], "status": "active",
        "workspace": "acme", "credential": null}, "at": "2026-01-01T00:00:00Z"}});
    let e: ProviderEvent = serde_json::from_value(old).unwrap();
    assert!(matches!(e, ProviderEvent::ProviderRegistered { incarnation: None, url_source: None, .. }));
    let e: ProviderEvent =
        serde_json::from_value(serde_json::json!({"ProviderRemoved": {"at": "2026-01-01T00:00:00Z"}})).unwrap();
    assert_eq!(e, ProviderEvent::ProviderRemoved { reason: None, at: at() });
}

/// `ProviderRegistered` and `ProviderUpdated` as 1.0 (and 1.1) wrote them: `modelOverrides` as free
/// JSON, read leniently by the gateway (an entry that is not an override was ignored).
fn legacy_overrides() -> serde_json::Value {
    serde_json::json!([
        {"id": "gpt-4o", "inputPerMtok": 1_000_000, "quality": {"coding": 0.9}, "note": null},
        {"id": "house-model", "providerType": "openai-compatible", "contextWindow": 32_000,
         "inputPerMtok": 0, "outputPerMtok": 0, "kind": "chat", "category": "local", "aliases": ["house"]},
        {"id": "x", "input_per_mtok": 5},
        "not an override"
    ])
}

fn typed_overrides() -> Vec<ModelOverride> {
    use model::{Category, ModelKind};
    vec![
        ModelOverride {
            id: "gpt-4o".into(),
            input_per_mtok: Some(1_000_000),
            quality: Some([("coding".to_string(), 0.9)].into()),
            ..Default::default()
        },
        ModelOverride {
            id: "house-model".into(),
            provider_type: Some("openai-compatible".into()),
            context_window: Some(32_000),
            input_per_mtok: Some(0),
            output_per_mtok: Some(0),
            kind: Some(ModelKind::Chat),
            category: Some(Category::Local),
            aliases: Some(vec!["house".into()]),
            ..Default::default()
        },
    ]
}

fn settings_json(overrides: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"name": "OpenAI prod", "type": "openai", "baseUrl": "https://api.openai.com/v1",
        "models": ["gpt-4o", "gpt-4o-mini"], "status": "active", "workspace": null,
        "credential": {"secretId": "sec_1", "fingerprint": "ab12"}, "modelOverrides": overrides})
}

fn decode(event_type: &str, version: &str, mut payload: serde_json::Value) -> ProviderEvent {
    crate::upcast(Provider::TYPE, event_type, version, &mut payload);
    serde_json::from_value(payload).unwrap()
}

#[test]
fn version_1_0_and_1_1_overrides_are_upcast_to_typed_ones() {
    let typed = ProviderSettings { model_overrides: typed_overrides(), ..settings() };
    // 1.0 fixtures: no incarnation, no urlSource, free-JSON overrides.
    let registered = serde_json::json!({"ProviderRegistered": {"id": "openai-prod",
        "settings": settings_json(legacy_overrides()), "at": "2026-01-01T00:00:00Z"}});
    assert!(serde_json::from_value::<ProviderEvent>(registered.clone()).is_err(), "1.0 needs the upcast");
    assert_eq!(
        decode("ProviderRegistered", "1.0", registered),
        ProviderEvent::ProviderRegistered {
            id: "openai-prod".into(),
            settings: typed.clone(),
            incarnation: None,
            url_source: None,
            at: at()
        }
    );
    let updated = serde_json::json!({"ProviderUpdated": {"before": settings_json(serde_json::json!([])),
        "after": settings_json(legacy_overrides()), "at": "2026-01-01T00:00:00Z"}});
    assert_eq!(
        decode("ProviderUpdated", "1.0", updated),
        ProviderEvent::ProviderUpdated { before: settings(), after: typed.clone(), url_source: None, at: at() }
    );
    // 1.1 added urlSource and incarnation; its overrides are upcast the same way.
    let updated = serde_json::json!({"ProviderUpdated": {"before": settings_json(legacy_overrides()),
        "after": settings_json(serde_json::json!([])), "urlSource": "admin", "at": "2026-01-01T00:00:00Z"}});
    assert_eq!(
        decode("ProviderUpdated", "1.1", updated),
        ProviderEvent::ProviderUpdated {
            before: typed.clone(),
            after: settings(),
            url_source: Some(UrlSource::Admin),
            at: at()
        }
    );
}

#[test]
fn version_1_3_is_written_and_reads_as_written() {
    let e = ProviderEvent::ProviderRegistered {
        id: "openai-prod".into(),
        settings: ProviderSettings { model_overrides: typed_overrides(), ..settings() },
        incarnation: Some(2),
        url_source: Some(UrlSource::Workspace),
        at: at(),
    };
    assert_eq!(e.event_version(), "1.3");
    let mut payload = serde_json::to_value(&e).unwrap();
    // Absent fields stay absent: an override reads back as it was given.
    assert_eq!(
        payload["ProviderRegistered"]["settings"]["modelOverrides"][0],
        serde_json::json!({"id": "gpt-4o", "inputPerMtok": 1_000_000, "quality": {"coding": 0.9}})
    );
    assert!(!crate::upcast(Provider::TYPE, "ProviderRegistered", "1.3", &mut payload));
    assert_eq!(serde_json::from_value::<ProviderEvent>(payload).unwrap(), e);
    // Only the settings events changed version.
    assert_eq!(ProviderEvent::ProviderRemoved { reason: None, at: at() }.event_version(), "1.1");
}

#[test]
fn a_secret_ref_credential_is_marked_and_older_credentials_read_as_own_keys() {
    let named = CredentialRef { secret_id: "openai-key".into(), fingerprint: "ab12".into(), named: true };
    let v = serde_json::to_value(&named).unwrap();
    assert_eq!(v, serde_json::json!({"secretId": "openai-key", "fingerprint": "ab12", "named": true}));
    // 1.0 credentials (and own keys now) carry no `named`.
    let own: CredentialRef =
        serde_json::from_value(serde_json::json!({"secretId": "sec_1", "fingerprint": "ab"})).unwrap();
    assert!(!own.named);
    assert_eq!(serde_json::to_value(&own).unwrap(), serde_json::json!({"secretId": "sec_1", "fingerprint": "ab"}));
    let changed = ProviderEvent::ProviderCredentialChanged { before: None, after: Some(named), at: at() };
    assert_eq!(changed.event_version(), "1.1");
}

#[test]
fn typed_overrides_refuse_unknown_fields() {
    let e = serde_json::from_value::<ModelOverride>(serde_json::json!({"id": "x", "input_per_mtok": 5})).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    assert!(serde_json::from_value::<ModelOverride>(serde_json::json!({"id": "x", "inputPerMtok": -5})).is_err());
}
