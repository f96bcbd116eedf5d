//! Providers in the in-memory state: the view the router and the edge read, resolved once per
//! applied change (the catalog with the provider's overrides, its parsed type), and the egress
//! standing of its base URL.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use layerr_domain::provider::{Provider, ProviderEvent, ProviderSettings, TestOutcome, UrlSource};

use super::{HotState, Inner};
use crate::catalog::{Catalog, ModelInfo};
use crate::egress::EgressPolicy;
use crate::providers::ProviderKind;

/// A provider connection as the router sees it.
#[derive(Debug, Clone)]
pub struct ProviderView {
    pub id: String,
    pub settings: ProviderSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_test: Option<(TestOutcome, DateTime<Utc>)>,
    /// What the settings imply for routing and calling, worked out when they were applied.
    pub resolved: Arc<ResolvedFacts>,
}

impl ProviderView {
    /// A view of `settings` as of `at`, its facts resolved.
    pub fn new(id: impl Into<String>, settings: ProviderSettings, at: DateTime<Utc>) -> Self {
        let resolved = Arc::new(ResolvedFacts::resolve(&settings));
        ProviderView { id: id.into(), settings, created_at: at, updated_at: at, last_test: None, resolved }
    }

    /// Whether `workspace` may see and use this provider (restrictions aside).
    pub fn visible_to(&self, workspace: Option<&str>) -> bool {
        match (&self.settings.workspace, workspace) {
            (None, _) => true,
            (Some(own), Some(ws)) => own == ws,
            (Some(_), None) => true,
        }
    }
}

/// A provider's settings worked out once, when the state applies a change to them, so the
/// request path only looks things up: the parsed type, and the catalog as this provider serves
/// it (the built-in table when it overrides nothing, else a copy with its overrides applied).
#[derive(Debug, Clone)]
pub struct ResolvedFacts {
    kind: Option<ProviderKind>,
    /// `None`: the built-in catalog, shared.
    catalog: Option<Catalog>,
}

impl ResolvedFacts {
    pub fn resolve(settings: &ProviderSettings) -> Self {
        let catalog = (!settings.model_overrides.is_empty())
            .then(|| Catalog::builtin().with_overrides(&settings.model_overrides));
        ResolvedFacts { kind: ProviderKind::parse(&settings.kind), catalog }
    }

    /// The provider's type; `None` for a type this build does not know (it is never called).
    pub fn kind(&self) -> Option<ProviderKind> {
        self.kind
    }

    /// The catalog with the provider's overrides applied.
    pub fn catalog(&self) -> &Catalog {
        self.catalog.as_ref().unwrap_or_else(|| Catalog::builtin())
    }

    /// A model's entry (by id or alias) as this provider serves it.
    pub fn model(&self, id_or_alias: &str) -> Option<&ModelInfo> {
        self.catalog().get(id_or_alias)
    }
}

/// What the state derives about a provider beside its view (kept apart so the router's
/// `ProviderView` stays the provider's settings).
#[derive(Debug, Clone, Default)]
pub(super) struct ProviderMeta {
    /// The workspace life a scoped provider belongs to.
    pub(super) incarnation: u32,
    /// Whether an admin set the base URL (else the egress policy applies to it).
    url_trusted: bool,
    /// The base URL's host, lower-case.
    host: Option<String>,
    /// Why the egress policy refuses the URL's IP-literal host, if it does.
    egress_refused: Option<String>,
}

/// A provider's egress standing, for the HTTP edge.
#[derive(Debug, Clone, Default)]
pub struct ProviderEgress {
    pub url_trusted: bool,
    pub refused: Option<String>,
}

impl ProviderMeta {
    /// The URL's host, and the policy's verdict when it is an IP address a workspace key set
    /// (host names are judged at every connection by `egress::Resolver`).
    fn locate(&mut self, base_url: &str, policy: Option<&EgressPolicy>) {
        self.host = crate::egress::host_port(base_url).map(|(h, _)| h);
        self.egress_refused = match policy {
            Some(p) if !self.url_trusted => p.check_literal(base_url).and_then(|r| r.err()).map(|r| r.to_string()),
            _ => None,
        };
    }
}

impl HotState {
    pub fn apply_provider(&self, id: &str, seq: i64, event: &ProviderEvent) {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if !Self::claim(inner, Provider::TYPE, id, seq) {
            return;
        }
        let at = event.at();
        let policy = self.egress.read().clone();
        match event {
            ProviderEvent::ProviderRegistered { settings, incarnation, url_source, .. } => {
                let view = ProviderView::new(id, settings.clone(), at);
                let mut meta = ProviderMeta {
                    // Events before 1.1 do not say: the life current when the event is read, in
                    // feed order, is the one it was registered in.
                    incarnation: incarnation
                        .unwrap_or_else(|| inner.current_incarnation(settings.workspace.as_deref())),
                    // Before 1.1 only global providers were certainly an admin's.
                    url_trusted: match url_source {
                        Some(UrlSource::Admin) => true,
                        Some(UrlSource::Workspace) => false,
                        None => settings.workspace.is_none(),
                    },
                    ..Default::default()
                };
                meta.locate(&settings.base_url, policy.as_deref());
                inner.provider_meta.insert(id.to_string(), meta);
                inner.providers.insert(id.to_string(), Arc::new(view));
            }
            ProviderEvent::ProviderRemoved { .. } => {
                inner.providers.remove(id);
                inner.provider_meta.remove(id);
            }
            other => {
                let Some(current) = inner.providers.get(id) else { return };
                let mut view = (**current).clone();
                match other {
                    ProviderEvent::ProviderUpdated { after, url_source, .. } => {
                        // Resolved again only when what the facts come from changed.
                        if after.kind != view.settings.kind || after.model_overrides != view.settings.model_overrides {
                            view.resolved = Arc::new(ResolvedFacts::resolve(after));
                        }
                        view.settings = after.clone();
                        let meta = inner.provider_meta.entry(id.to_string()).or_default();
                        if let Some(source) = url_source {
                            meta.url_trusted = *source == UrlSource::Admin;
                        }
                        meta.locate(&after.base_url, policy.as_deref());
                    }
                    ProviderEvent::ProviderCredentialChanged { after, .. } => view.settings.credential = after.clone(),
                    ProviderEvent::ProviderTested { outcome, .. } => view.last_test = Some((outcome.clone(), at)),
                    _ => {}
                }
                if !matches!(other, ProviderEvent::ProviderTested { .. }) {
                    view.updated_at = at;
                }
                inner.providers.insert(id.to_string(), Arc::new(view));
            }
        }
    }

    /// A provider by id, whoever may see it; a disowned one is gone.
    pub fn provider(&self, id: &str) -> Option<Arc<ProviderView>> {
        let inner = self.inner.read();
        inner.providers.get(id).filter(|p| !inner.provider_disowned(p)).cloned()
    }

    /// Every provider (admin view), or those a workspace may route to: its own and the global
    /// ones, less those whose address the egress policy refuses.
    pub fn providers(&self, workspace: Option<&str>) -> Vec<Arc<ProviderView>> {
        let inner = self.inner.read();
        inner
            .providers
            .values()
            .filter(|p| p.visible_to(workspace) && !inner.provider_disowned(p))
            .filter(|p| {
                workspace.is_none() || inner.provider_meta.get(&p.id).is_none_or(|m| m.egress_refused.is_none())
            })
            .cloned()
            .collect()
    }

    /// What a listing shows: the providers `workspace` sees (all for `None`), each with its
    /// egress standing.
    pub fn provider_listing(&self, workspace: Option<&str>) -> Vec<(Arc<ProviderView>, ProviderEgress)> {
        let inner = self.inner.read();
        inner
            .providers
            .values()
            .filter(|p| p.visible_to(workspace) && !inner.provider_disowned(p))
            .map(|p| (p.clone(), Self::egress_of(&inner, &p.id)))
            .collect()
    }

    pub fn provider_egress(&self, id: &str) -> ProviderEgress {
        Self::egress_of(&self.inner.read(), id)
    }

    fn egress_of(inner: &Inner, id: &str) -> ProviderEgress {
        inner
            .provider_meta
            .get(id)
            .map(|m| ProviderEgress { url_trusted: m.url_trusted, refused: m.egress_refused.clone() })
            .unwrap_or_default()
    }

    /// Whether connections to `host` are held to the egress policy: some live provider whose
    /// URL a workspace key set points there (`egress::Resolver` asks at each connection).
    pub fn egress_checked_host(&self, host: &str) -> bool {
        let inner = self.inner.read();
        inner.providers.values().any(|p| {
            inner.provider_meta.get(&p.id).is_some_and(|m| !m.url_trusted && m.host.as_deref() == Some(host))
                && !inner.provider_disowned(p)
        })
    }

    /// Secret ids referenced by live providers, to load into memory.
    pub fn credential_ids(&self) -> Vec<String> {
        let inner = self.inner.read();
        inner
            .providers
            .values()
            .filter(|p| !inner.provider_disowned(p))
            // Named secrets are loaded through their pointers (`SecretBox::sync_named`).
            .filter_map(|p| p.settings.credential.as_ref().filter(|c| !c.named).map(|c| c.secret_id.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use layerr_domain::provider::{ModelOverride, ProviderPatch, ProviderSettings, ProviderStatus};

    use super::*;
    use crate::gateway::facts;
    use crate::llm::Usage;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn settings(overrides: Vec<ModelOverride>) -> ProviderSettings {
        ProviderSettings {
            name: "p".into(),
            kind: "openai".into(),
            base_url: "https://api.openai.com/v1".into(),
            models: vec!["gpt-4.1".into(), "house".into()],
            status: ProviderStatus::Active,
            workspace: None,
            credential: None,
            model_overrides: overrides,
        }
    }

    fn cheaper() -> Vec<ModelOverride> {
        vec![ModelOverride { id: "gpt-4.1".into(), input_per_mtok: Some(1_000_000), ..Default::default() }]
    }

    fn updated(before: ProviderSettings, patch: ProviderPatch) -> ProviderEvent {
        let mut after = before.clone();
        if let Some(o) = patch.model_overrides {
            after.model_overrides = o;
        }
        if let Some(n) = patch.name {
            after.name = n;
        }
        ProviderEvent::ProviderUpdated { before, after, url_source: None, at: at() }
    }

    #[test]
    fn facts_are_resolved_when_a_change_is_applied_and_looked_up_after() {
        let hot = HotState::new();
        let registered = ProviderEvent::ProviderRegistered {
            id: "p".into(),
            settings: settings(cheaper()),
            incarnation: None,
            url_source: None,
            at: at(),
        };
        hot.apply_provider("p", 1, &registered);
        let p = hot.provider("p").unwrap();
        assert_eq!(p.resolved.kind(), Some(ProviderKind::OpenAi));
        let usage = Usage { prompt_tokens: 1_000_000, ..Default::default() };
        let version = &Catalog::builtin().version;
        assert_eq!(facts::charge_micros(&p, "gpt-4.1", &usage), (1_000_000, format!("{version}+override")));
        assert_eq!(facts::facts(&p, "gpt-4.1", "chat").input_per_mtok, 1_000_000);
        assert_eq!(facts::model_info(&p, "gpt-4.1").map(|m| m.input_per_mtok), Some(1_000_000));
        // Models the overrides do not touch are the table's.
        let table = Catalog::builtin().get("o4-mini").unwrap();
        assert_eq!(facts::model_info(&p, "o4-mini").as_ref(), Some(table));
        assert!(facts::model_info(&p, "house").is_none());

        // A change that leaves type and overrides alone keeps the resolved facts.
        hot.apply_provider(
            "p",
            2,
            &updated(settings(cheaper()), ProviderPatch { name: Some("q".into()), ..Default::default() }),
        );
        let renamed = hot.provider("p").unwrap();
        assert_eq!(renamed.settings.name, "q");
        assert!(Arc::ptr_eq(&p.resolved, &renamed.resolved));

        // New overrides are resolved again; none at all is the built-in table.
        let mut named = settings(cheaper());
        named.name = "q".into();
        hot.apply_provider(
            "p",
            3,
            &updated(named, ProviderPatch { model_overrides: Some(vec![]), ..Default::default() }),
        );
        let plain = hot.provider("p").unwrap();
        assert!(!Arc::ptr_eq(&p.resolved, &plain.resolved));
        assert!(std::ptr::eq(plain.resolved.catalog(), Catalog::builtin()));
        let table_price = Catalog::builtin().get("gpt-4.1").unwrap().cost_micros(1_000_000, 0, 0, 0);
        assert_eq!(facts::charge_micros(&plain, "gpt-4.1", &usage), (table_price, version.clone()));
    }

    #[test]
    fn an_unknown_type_resolves_to_no_upstream() {
        let mut s = settings(vec![]);
        s.kind = "carrier-pigeon".into();
        let p = ProviderView::new("p", s, at());
        assert_eq!(p.resolved.kind(), None);
        let client = reqwest::Client::new();
        assert!(facts::upstream(&client, &p, None, std::time::Duration::from_secs(1)).is_none());
        let p = ProviderView::new("p", settings(vec![]), at());
        let up = facts::upstream(&client, &p, Some("k"), std::time::Duration::from_secs(1)).unwrap();
        assert_eq!((up.kind, up.base_url, up.api_key), (ProviderKind::OpenAi, "https://api.openai.com/v1", Some("k")));
    }
}
