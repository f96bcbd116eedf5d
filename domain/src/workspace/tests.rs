//! Given/when/then tests of the Workspace aggregate, plus unit tests of the value types it uses.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};

use super::types::{
    ContentCapture, FallbackMode, LimitOverrides, Limits, LimitsPatch, OverridesPatch, Profile, Quota, Restrictions,
    RestrictionsPatch, RetriesPatch, RuntimePatch, RuntimeProfile, Tier, TimeoutsPatch,
};
use super::*;
use crate::keys::KeyRecord;

type F = TestFramework<Workspace>;

const SLUG_MSG: &str = "slug must be 2..=63 characters of a-z, 0-9 and '-', not starting or ending with '-'";
const NAME_MSG: &str = "name must be 1..=100 non-blank characters";
const DESCRIPTION_MSG: &str = "description must be at most 1000 characters";
const HASH_MSG: &str = "hash must be 64 hex characters";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// A later instant, `n` minutes after `at()`.
fn later(n: i64) -> DateTime<Utc> {
    at() + Duration::minutes(n)
}

fn profile(name: &str, description: Option<&str>) -> Profile {
    Profile { name: name.into(), description: description.map(Into::into) }
}

fn acme() -> Profile {
    profile("Acme", Some("The Acme team"))
}

fn limits(tier: Tier, rpm: Option<u32>, burst: Option<u32>) -> Limits {
    Limits { tier, overrides: LimitOverrides { requests_per_minute: rpm, burst } }
}

fn created_as(slug: &str, profile: Profile, tier: Tier) -> WorkspaceEvent {
    WorkspaceEvent::WorkspaceCreated {
        slug: slug.into(),
        profile,
        limits: limits(tier, None, None),
        runtime: RuntimeProfile::default(),
        restrictions: Restrictions::default(),
        at: at(),
    }
}

/// `acme`, created with the `acme()` profile on the standard tier.
fn created() -> WorkspaceEvent {
    created_as("acme", acme(), Tier::Standard)
}

fn deleted() -> WorkspaceEvent {
    WorkspaceEvent::WorkspaceDeleted { at: later(1) }
}

fn key(id: &str) -> KeyRecord {
    KeyRecord { key_id: id.into(), name: "ci".into(), prefix: "lyr_abcd1234".into(), hash: "ab".repeat(32) }
}

fn issued(id: &str) -> WorkspaceEvent {
    WorkspaceEvent::ApiKeyIssued { key: key(id), at: at() }
}

fn revoked(id: &str) -> WorkspaceEvent {
    WorkspaceEvent::ApiKeyRevoked { key_id: id.into(), at: at() }
}

fn given(events: Vec<WorkspaceEvent>) -> AggregateTestExecutor<Workspace> {
    F::with(()).given(events)
}

/// `acme` is active with no other history.
fn given_active() -> AggregateTestExecutor<Workspace> {
    given(vec![created()])
}

fn replay(events: Vec<WorkspaceEvent>) -> Workspace {
    let mut ws = Workspace::default();
    for event in events {
        ws.apply(event);
    }
    ws
}

fn create(slug: &str, profile: Profile, tier: Tier) -> WorkspaceCommand {
    WorkspaceCommand::CreateWorkspace { slug: slug.into(), profile, tier, at: at() }
}

fn update_profile(name: Option<&str>, description: Option<Option<&str>>) -> WorkspaceCommand {
    WorkspaceCommand::UpdateProfile {
        name: name.map(Into::into),
        description: description.map(|d| d.map(Into::into)),
        at: later(2),
    }
}

fn change_limits(patch: LimitsPatch) -> WorkspaceCommand {
    WorkspaceCommand::ChangeLimits { patch, at: later(2) }
}

fn change_runtime(patch: RuntimePatch) -> WorkspaceCommand {
    WorkspaceCommand::ChangeRuntimeProfile { patch, at: later(2) }
}

fn change_restrictions(patch: RestrictionsPatch) -> WorkspaceCommand {
    WorkspaceCommand::ChangeRestrictions { patch, at: later(2) }
}

fn issue(key: KeyRecord) -> WorkspaceCommand {
    WorkspaceCommand::IssueKey { key, at: later(2) }
}

fn revoke(id: &str) -> WorkspaceCommand {
    WorkspaceCommand::RevokeKey { key_id: id.into(), at: later(2) }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn invalid(msg: &str) -> WorkspaceError {
    WorkspaceError::Invalid(msg.into())
}

// ---------------------------------------------------------------------------------------------
// CreateWorkspace
// ---------------------------------------------------------------------------------------------

#[test]
fn create_records_the_profile_the_tier_and_default_settings() {
    F::with(()).given_no_previous_events().when(create("acme", acme(), Tier::Free)).then_expect_events(vec![
        WorkspaceEvent::WorkspaceCreated {
            slug: "acme".into(),
            profile: acme(),
            limits: Limits { tier: Tier::Free, overrides: LimitOverrides::default() },
            runtime: RuntimeProfile::default(),
            restrictions: Restrictions::default(),
            at: at(),
        },
    ]);
}

#[test]
fn create_accepts_a_profile_without_description_and_the_enterprise_tier() {
    F::with(())
        .given_no_previous_events()
        .when(create("acme", profile("Acme", None), Tier::Enterprise))
        .then_expect_events(vec![created_as("acme", profile("Acme", None), Tier::Enterprise)]);
}

#[test]
fn create_accepts_every_well_formed_slug() {
    let longest = format!("a{}", "0".repeat(62));
    assert_eq!(longest.len(), 63);
    for slug in ["ab", "a1", "42", "team-42", "a-b-c", "default", longest.as_str()] {
        F::with(())
            .given_no_previous_events()
            .when(create(slug, acme(), Tier::Standard))
            .then_expect_events(vec![created_as(slug, acme(), Tier::Standard)]);
    }
}

#[test]
fn create_refuses_every_malformed_slug() {
    let too_long = "a".repeat(64);
    for slug in [
        "",
        "a",
        too_long.as_str(),
        "-ab",
        "ab-",
        "-",
        "--",
        "Acme",
        "ACME",
        "a_b",
        "a b",
        "a.b",
        "a/b",
        " ab",
        "ab\n",
        "caf\u{e9}",
    ] {
        F::with(())
            .given_no_previous_events()
            .when(create(slug, acme(), Tier::Standard))
            .then_expect_error(invalid(SLUG_MSG));
    }
}

#[test]
fn create_refuses_a_blank_name() {
    for name in ["", " ", "   ", "\t\n"] {
        F::with(())
            .given_no_previous_events()
            .when(create("acme", profile(name, None), Tier::Standard))
            .then_expect_error(invalid(NAME_MSG));
    }
}

#[test]
fn create_refuses_a_name_over_100_characters_and_counts_characters_not_bytes() {
    F::with(())
        .given_no_previous_events()
        .when(create("acme", profile(&"n".repeat(101), None), Tier::Standard))
        .then_expect_error(invalid(NAME_MSG));
    F::with(())
        .given_no_previous_events()
        .when(create("acme", profile(&"\u{e9}".repeat(101), None), Tier::Standard))
        .then_expect_error(invalid(NAME_MSG));

    for name in ["n".repeat(100), "\u{e9}".repeat(100)] {
        F::with(())
            .given_no_previous_events()
            .when(create("acme", profile(&name, None), Tier::Standard))
            .then_expect_events(vec![created_as("acme", profile(&name, None), Tier::Standard)]);
    }
}

#[test]
fn create_refuses_a_description_over_1000_characters() {
    F::with(())
        .given_no_previous_events()
        .when(create("acme", profile("Acme", Some(&"d".repeat(1001))), Tier::Standard))
        .then_expect_error(invalid(DESCRIPTION_MSG));
    let longest = "d".repeat(1000);
    F::with(())
        .given_no_previous_events()
        .when(create("acme", profile("Acme", Some(&longest)), Tier::Standard))
        .then_expect_events(vec![created_as("acme", profile("Acme", Some(&longest)), Tier::Standard)]);
}

#[test]
fn create_refuses_an_active_workspace() {
    given_active()
        .when(create("acme", acme(), Tier::Standard))
        .then_expect_error(WorkspaceError::AlreadyExists("acme".into()));
    // Even with a different profile and tier, and after other changes.
    given(vec![created(), issued("k1")])
        .when(create("acme", profile("Other", None), Tier::Free))
        .then_expect_error(WorkspaceError::AlreadyExists("acme".into()));
}

#[test]
fn create_refuses_the_default_workspace_once_it_exists() {
    given(vec![created_as(DEFAULT_WORKSPACE, profile("Default", None), Tier::Standard)])
        .when(create(DEFAULT_WORKSPACE, profile("Default", None), Tier::Standard))
        .then_expect_error(WorkspaceError::AlreadyExists(DEFAULT_WORKSPACE.into()));
}

#[test]
fn a_deleted_workspace_can_be_created_again_with_fresh_settings() {
    given(vec![
        created(),
        WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Standard, None, None),
            after: limits(Tier::Enterprise, Some(5000), Some(500)),
            at: at(),
        },
        issued("k1"),
        deleted(),
    ])
    .when(WorkspaceCommand::CreateWorkspace {
        slug: "acme".into(),
        profile: profile("Acme again", None),
        tier: Tier::Free,
        at: later(3),
    })
    .then_expect_events(vec![WorkspaceEvent::WorkspaceCreated {
        slug: "acme".into(),
        profile: profile("Acme again", None),
        limits: limits(Tier::Free, None, None),
        runtime: RuntimeProfile::default(),
        restrictions: Restrictions::default(),
        at: later(3),
    }]);
}

#[test]
fn re_creating_a_deleted_workspace_still_validates_the_command() {
    given(vec![created(), deleted()])
        .when(create("acme", profile(" ", None), Tier::Free))
        .then_expect_error(invalid(NAME_MSG));
    given(vec![created(), deleted()]).when(create("Acme", acme(), Tier::Free)).then_expect_error(invalid(SLUG_MSG));
}

/// A workspace's second life: `k1` was live and `k2` already revoked when it was deleted.
fn second_life() -> Vec<WorkspaceEvent> {
    vec![
        created(),
        issued("k1"),
        issued("k2"),
        revoked("k2"),
        deleted(),
        created_as("acme", profile("Acme again", None), Tier::Free),
    ]
}

#[test]
fn a_re_created_workspace_refuses_the_ids_of_its_old_keys() {
    for id in ["k1", "k2"] {
        given(second_life()).when(issue(key(id))).then_expect_error(WorkspaceError::KeyExists(id.into()));
    }
}

#[test]
fn the_old_keys_of_a_re_created_workspace_stay_revoked() {
    // Revoking an already revoked key is a no-op: `k1`, live before the delete, is revoked now.
    for id in ["k1", "k2"] {
        given(second_life()).when(revoke(id)).then_expect_events(vec![]);
    }
    let ws = replay(second_life());
    assert_eq!(ws.lifecycle, Lifecycle::Active);
    assert_eq!(ws.keys.get("k1"), Some(&true));
    assert_eq!(ws.keys.get("k2"), Some(&true));
}

#[test]
fn a_re_created_workspace_can_issue_and_revoke_new_keys() {
    given(second_life())
        .when(issue(key("k3")))
        .then_expect_events(vec![WorkspaceEvent::ApiKeyIssued { key: key("k3"), at: later(2) }]);
    let mut events = second_life();
    events.push(issued("k3"));
    given(events)
        .when(revoke("k3"))
        .then_expect_events(vec![WorkspaceEvent::ApiKeyRevoked { key_id: "k3".into(), at: later(2) }]);
}

#[test]
fn a_re_created_workspace_starts_from_the_new_settings() {
    let mut events = second_life();
    events.insert(
        1,
        WorkspaceEvent::RestrictionsChanged {
            before: Restrictions::default(),
            after: Restrictions { blocked_providers: strings(&["openai"]), ..Default::default() },
            at: at(),
        },
    );
    let ws = replay(events.clone());
    assert_eq!(ws.profile, profile("Acme again", None));
    assert_eq!(ws.limits, limits(Tier::Free, None, None));
    assert_eq!(ws.restrictions, Restrictions::default());
    assert_eq!(ws.runtime, RuntimeProfile::default());

    given(events).when(change_limits(LimitsPatch { tier: Some(Tier::Standard), overrides: None })).then_expect_events(
        vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Free, None, None),
            after: limits(Tier::Standard, None, None),
            at: later(2),
        }],
    );
}

// ---------------------------------------------------------------------------------------------
// UpdateProfile
// ---------------------------------------------------------------------------------------------

#[test]
fn update_profile_changes_the_name_and_keeps_the_description() {
    given_active().when(update_profile(Some("Acme Corp"), None)).then_expect_events(vec![
        WorkspaceEvent::ProfileUpdated {
            before: acme(),
            after: profile("Acme Corp", Some("The Acme team")),
            at: later(2),
        },
    ]);
}

#[test]
fn update_profile_changes_the_description_and_keeps_the_name() {
    given_active().when(update_profile(None, Some(Some("Platform team")))).then_expect_events(vec![
        WorkspaceEvent::ProfileUpdated { before: acme(), after: profile("Acme", Some("Platform team")), at: later(2) },
    ]);
}

#[test]
fn update_profile_changes_both_fields() {
    given_active().when(update_profile(Some("Beta"), Some(Some("Beta team")))).then_expect_events(vec![
        WorkspaceEvent::ProfileUpdated { before: acme(), after: profile("Beta", Some("Beta team")), at: later(2) },
    ]);
}

#[test]
fn update_profile_clears_the_description_with_an_explicit_none() {
    given_active().when(update_profile(None, Some(None))).then_expect_events(vec![WorkspaceEvent::ProfileUpdated {
        before: acme(),
        after: profile("Acme", None),
        at: later(2),
    }]);
}

#[test]
fn update_profile_sets_a_description_where_there_was_none() {
    given(vec![created_as("acme", profile("Acme", None), Tier::Standard)])
        .when(update_profile(None, Some(Some("New"))))
        .then_expect_events(vec![WorkspaceEvent::ProfileUpdated {
            before: profile("Acme", None),
            after: profile("Acme", Some("New")),
            at: later(2),
        }]);
}

#[test]
fn update_profile_that_changes_nothing_emits_no_event() {
    for cmd in [
        update_profile(None, None),
        update_profile(Some("Acme"), None),
        update_profile(None, Some(Some("The Acme team"))),
        update_profile(Some("Acme"), Some(Some("The Acme team"))),
    ] {
        given_active().when(cmd).then_expect_events(vec![]);
    }
    // Clearing a description that is already absent.
    given(vec![created_as("acme", profile("Acme", None), Tier::Standard)])
        .when(update_profile(None, Some(None)))
        .then_expect_events(vec![]);
}

#[test]
fn update_profile_builds_on_earlier_updates() {
    given(vec![
        created(),
        WorkspaceEvent::ProfileUpdated { before: acme(), after: profile("Acme Corp", None), at: later(1) },
    ])
    .when(update_profile(None, Some(Some("Again"))))
    .then_expect_events(vec![WorkspaceEvent::ProfileUpdated {
        before: profile("Acme Corp", None),
        after: profile("Acme Corp", Some("Again")),
        at: later(2),
    }]);
}

#[test]
fn update_profile_refuses_an_invalid_profile() {
    given_active().when(update_profile(Some(""), None)).then_expect_error(invalid(NAME_MSG));
    given_active().when(update_profile(Some("   "), None)).then_expect_error(invalid(NAME_MSG));
    given_active().when(update_profile(Some(&"n".repeat(101)), None)).then_expect_error(invalid(NAME_MSG));
    given_active()
        .when(update_profile(None, Some(Some(&"d".repeat(1001)))))
        .then_expect_error(invalid(DESCRIPTION_MSG));
}

// ---------------------------------------------------------------------------------------------
// DeleteWorkspace
// ---------------------------------------------------------------------------------------------

#[test]
fn delete_records_the_deletion() {
    given_active()
        .when(WorkspaceCommand::DeleteWorkspace { at: later(5) })
        .then_expect_events(vec![WorkspaceEvent::WorkspaceDeleted { at: later(5) }]);
}

#[test]
fn delete_revokes_every_key_in_the_replayed_state() {
    let ws = replay(vec![created(), issued("k1"), issued("k2"), revoked("k2"), deleted()]);
    assert_eq!(ws.lifecycle, Lifecycle::Deleted);
    assert!(ws.keys.values().all(|revoked| *revoked), "{:?}", ws.keys);
    assert_eq!(ws.keys.len(), 2);
}

#[test]
fn the_default_workspace_cannot_be_deleted() {
    given(vec![created_as(DEFAULT_WORKSPACE, profile("Default", None), Tier::Standard)])
        .when(WorkspaceCommand::DeleteWorkspace { at: later(5) })
        .then_expect_error(WorkspaceError::DefaultUndeletable);
}

/// Every command except CreateWorkspace, including ones that would be no-ops on an active
/// workspace.
fn every_non_create_command() -> Vec<WorkspaceCommand> {
    vec![
        update_profile(Some("Other"), None),
        update_profile(None, None),
        WorkspaceCommand::DeleteWorkspace { at: later(2) },
        change_limits(LimitsPatch { tier: Some(Tier::Enterprise), overrides: None }),
        change_limits(LimitsPatch::default()),
        change_runtime(RuntimePatch { fallback: Some(FallbackMode::Strict), ..Default::default() }),
        change_runtime(RuntimePatch::default()),
        change_restrictions(RestrictionsPatch { blocked_models: Some(strings(&["gpt-4"])), ..Default::default() }),
        change_restrictions(RestrictionsPatch::default()),
        issue(key("k9")),
        issue(key("k1")),
        revoke("k1"),
        revoke("nope"),
    ]
}

#[test]
fn a_deleted_workspace_is_not_found_for_every_other_command() {
    for cmd in every_non_create_command() {
        given(vec![created(), issued("k1"), deleted()]).when(cmd).then_expect_error(WorkspaceError::NotFound);
    }
}

#[test]
fn a_deleted_default_workspace_history_is_also_not_found() {
    // The default workspace can't be deleted through the aggregate, but a replayed history
    // containing the deletion must still behave like any deleted workspace.
    for cmd in every_non_create_command() {
        given(vec![created_as(DEFAULT_WORKSPACE, profile("Default", None), Tier::Standard), deleted()])
            .when(cmd)
            .then_expect_error(WorkspaceError::NotFound);
    }
}

#[test]
fn a_workspace_that_was_never_created_is_not_found_for_every_other_command() {
    for cmd in every_non_create_command() {
        F::with(()).given_no_previous_events().when(cmd).then_expect_error(WorkspaceError::NotFound);
    }
}

// ---------------------------------------------------------------------------------------------
// ChangeLimits
// ---------------------------------------------------------------------------------------------

#[test]
fn change_limits_changes_the_tier() {
    given_active()
        .when(change_limits(LimitsPatch { tier: Some(Tier::Enterprise), overrides: None }))
        .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Standard, None, None),
            after: limits(Tier::Enterprise, None, None),
            at: later(2),
        }]);
}

#[test]
fn change_limits_sets_an_override_and_leaves_the_absent_one() {
    given_active()
        .when(change_limits(LimitsPatch {
            tier: None,
            overrides: Some(OverridesPatch { requests_per_minute: Some(Some(1000)), burst: None }),
        }))
        .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Standard, None, None),
            after: limits(Tier::Standard, Some(1000), None),
            at: later(2),
        }]);
}

/// `acme` on the free tier with both overrides set.
fn given_overridden() -> AggregateTestExecutor<Workspace> {
    given(vec![
        created(),
        WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Standard, None, None),
            after: limits(Tier::Free, Some(100), Some(20)),
            at: later(1),
        },
    ])
}

#[test]
fn change_limits_clears_an_override_with_an_explicit_none() {
    given_overridden()
        .when(change_limits(LimitsPatch {
            tier: None,
            overrides: Some(OverridesPatch { requests_per_minute: Some(None), burst: None }),
        }))
        .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Free, Some(100), Some(20)),
            after: limits(Tier::Free, None, Some(20)),
            at: later(2),
        }]);
    given_overridden()
        .when(change_limits(LimitsPatch {
            tier: None,
            overrides: Some(OverridesPatch { requests_per_minute: Some(None), burst: Some(None) }),
        }))
        .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Free, Some(100), Some(20)),
            after: limits(Tier::Free, None, None),
            at: later(2),
        }]);
}

#[test]
fn change_limits_replaces_an_override_and_changes_the_tier_in_one_event() {
    given_overridden()
        .when(change_limits(LimitsPatch {
            tier: Some(Tier::Enterprise),
            overrides: Some(OverridesPatch { requests_per_minute: None, burst: Some(Some(400)) }),
        }))
        .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Free, Some(100), Some(20)),
            after: limits(Tier::Enterprise, Some(100), Some(400)),
            at: later(2),
        }]);
}

#[test]
fn change_limits_tier_change_keeps_the_overrides() {
    given_overridden()
        .when(change_limits(LimitsPatch { tier: Some(Tier::Standard), overrides: None }))
        .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
            before: limits(Tier::Free, Some(100), Some(20)),
            after: limits(Tier::Standard, Some(100), Some(20)),
            at: later(2),
        }]);
}

#[test]
fn change_limits_that_changes_nothing_emits_no_event() {
    for patch in [
        LimitsPatch::default(),
        LimitsPatch { tier: Some(Tier::Free), overrides: None },
        LimitsPatch { tier: None, overrides: Some(OverridesPatch::default()) },
        LimitsPatch {
            tier: Some(Tier::Free),
            overrides: Some(OverridesPatch { requests_per_minute: Some(Some(100)), burst: Some(Some(20)) }),
        },
    ] {
        given_overridden().when(change_limits(patch)).then_expect_events(vec![]);
    }
    // Clearing an override that isn't set.
    given_active()
        .when(change_limits(LimitsPatch {
            tier: Some(Tier::Standard),
            overrides: Some(OverridesPatch { requests_per_minute: Some(None), burst: Some(None) }),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn change_limits_refuses_an_out_of_range_override() {
    const RPM: &str = "overrides.requestsPerMinute must be between 1 and 10000000";
    const BURST: &str = "overrides.burst must be between 1 and 1000000";
    for (rpm, burst, msg) in [
        (Some(Some(0)), None, RPM),
        (Some(Some(10_000_001)), None, RPM),
        (Some(Some(u32::MAX)), None, RPM),
        (None, Some(Some(0)), BURST),
        (None, Some(Some(1_000_001)), BURST),
    ] {
        given_active()
            .when(change_limits(LimitsPatch {
                tier: Some(Tier::Enterprise),
                overrides: Some(OverridesPatch { requests_per_minute: rpm, burst }),
            }))
            .then_expect_error(invalid(msg));
    }
}

#[test]
fn change_limits_accepts_the_override_bounds() {
    for (rpm, burst) in [(1, 1), (10_000_000, 1_000_000)] {
        given_active()
            .when(change_limits(LimitsPatch {
                tier: None,
                overrides: Some(OverridesPatch { requests_per_minute: Some(Some(rpm)), burst: Some(Some(burst)) }),
            }))
            .then_expect_events(vec![WorkspaceEvent::LimitsChanged {
                before: limits(Tier::Standard, None, None),
                after: limits(Tier::Standard, Some(rpm), Some(burst)),
                at: later(2),
            }]);
    }
}

#[test]
fn effective_limits_follow_the_tier_table() {
    let quota = |requests_per_minute, burst| Quota { requests_per_minute, burst };
    assert_eq!(limits(Tier::Free, None, None).effective(), quota(60, 10));
    assert_eq!(limits(Tier::Standard, None, None).effective(), quota(300, 50));
    assert_eq!(limits(Tier::Enterprise, None, None).effective(), quota(2000, 200));
    assert_eq!(Tier::Free.quota(), quota(60, 10));
    assert_eq!(Tier::Standard.quota(), quota(300, 50));
    assert_eq!(Tier::Enterprise.quota(), quota(2000, 200));
}

#[test]
fn effective_limits_let_each_override_win_on_its_own() {
    let quota = |requests_per_minute, burst| Quota { requests_per_minute, burst };
    assert_eq!(limits(Tier::Free, Some(5000), None).effective(), quota(5000, 10));
    assert_eq!(limits(Tier::Standard, None, Some(7)).effective(), quota(300, 7));
    assert_eq!(limits(Tier::Enterprise, Some(10), Some(1)).effective(), quota(10, 1));
}

// ---------------------------------------------------------------------------------------------
// ChangeRuntimeProfile
// ---------------------------------------------------------------------------------------------

#[test]
fn change_runtime_applies_nested_fields_and_keeps_the_rest() {
    let before = RuntimeProfile::default();
    let mut after = before.clone();
    after.timeouts.connect_ms = 1_000;
    after.retries.max_attempts = 3;
    after.fallback = FallbackMode::Strict;
    after.content_capture = ContentCapture::Full;
    given_active()
        .when(change_runtime(RuntimePatch {
            timeouts: Some(TimeoutsPatch { connect_ms: Some(1_000), ..Default::default() }),
            retries: Some(RetriesPatch { max_attempts: Some(3), ..Default::default() }),
            fallback: Some(FallbackMode::Strict),
            content_capture: Some(ContentCapture::Full),
            files_root: None,
        }))
        .then_expect_events(vec![WorkspaceEvent::RuntimeProfileChanged {
            before: before.clone(),
            after,
            at: later(2),
        }]);
    // The default profile the event above starts from, spelled out.
    assert_eq!(before.timeouts.connect_ms, 5_000);
    assert_eq!(before.timeouts.first_token_ms, 30_000);
    assert_eq!(before.timeouts.total_ms, 120_000);
    assert_eq!(before.retries.max_attempts, 2);
    assert_eq!(before.retries.backoff_base_ms, 100);
    assert_eq!(before.retries.backoff_max_ms, 2_000);
    assert_eq!(before.fallback, FallbackMode::Relaxed);
    assert_eq!(before.content_capture, ContentCapture::Metadata);
}

#[test]
fn change_runtime_applies_every_timeout_and_retry_field() {
    let before = RuntimeProfile::default();
    let mut after = before.clone();
    after.timeouts.connect_ms = 2_000;
    after.timeouts.first_token_ms = 10_000;
    after.timeouts.total_ms = 60_000;
    after.retries.max_attempts = 10;
    after.retries.backoff_base_ms = 0;
    after.retries.backoff_max_ms = 600_000;
    given_active()
        .when(change_runtime(RuntimePatch {
            timeouts: Some(TimeoutsPatch {
                connect_ms: Some(2_000),
                first_token_ms: Some(10_000),
                total_ms: Some(60_000),
                attempt_ms: None,
            }),
            retries: Some(RetriesPatch {
                max_attempts: Some(10),
                backoff_base_ms: Some(0),
                backoff_max_ms: Some(600_000),
            }),
            fallback: None,
            content_capture: None,
            files_root: None,
        }))
        .then_expect_events(vec![WorkspaceEvent::RuntimeProfileChanged { before, after, at: later(2) }]);
}

#[test]
fn change_runtime_builds_on_earlier_changes() {
    let first = RuntimeProfile { fallback: FallbackMode::None, ..Default::default() };
    let second = RuntimeProfile { content_capture: ContentCapture::None, ..first.clone() };
    given(vec![
        created(),
        WorkspaceEvent::RuntimeProfileChanged { before: RuntimeProfile::default(), after: first.clone(), at: later(1) },
    ])
    .when(change_runtime(RuntimePatch { content_capture: Some(ContentCapture::None), ..Default::default() }))
    .then_expect_events(vec![WorkspaceEvent::RuntimeProfileChanged {
        before: first,
        after: second,
        at: later(2),
    }]);
}

#[test]
fn change_runtime_refuses_a_connect_timeout_above_the_total() {
    const MSG: &str = "timeouts.connectMs must not exceed timeouts.totalMs";
    // Total lowered below the current connect timeout (5000).
    given_active()
        .when(change_runtime(RuntimePatch {
            timeouts: Some(TimeoutsPatch { total_ms: Some(4_999), ..Default::default() }),
            ..Default::default()
        }))
        .then_expect_error(invalid(MSG));
    // Connect raised above the current total (120000).
    given_active()
        .when(change_runtime(RuntimePatch {
            timeouts: Some(TimeoutsPatch { connect_ms: Some(120_001), ..Default::default() }),
            ..Default::default()
        }))
        .then_expect_error(invalid(MSG));
}

#[test]
fn change_runtime_accepts_a_connect_timeout_equal_to_the_total() {
    let mut after = RuntimeProfile::default();
    after.timeouts.connect_ms = 120_000;
    given_active()
        .when(change_runtime(RuntimePatch {
            timeouts: Some(TimeoutsPatch { connect_ms: Some(120_000), ..Default::default() }),
            ..Default::default()
        }))
        .then_expect_events(vec![WorkspaceEvent::RuntimeProfileChanged {
            before: RuntimeProfile::default(),
            after,
            at: later(2),
        }]);
}

#[test]
fn change_runtime_refuses_a_first_token_timeout_above_the_total() {
    given_active()
        .when(change_runtime(RuntimePatch {
            timeouts: Some(TimeoutsPatch { first_token_ms: Some(120_001), ..Default::default() }),
            ..Default::default()
        }))
        .then_expect_error(invalid("timeouts.firstTokenMs must not exceed timeouts.totalMs"));
}

#[test]
fn change_runtime_refuses_out_of_range_timeouts() {
    for (patch, msg) in [
        (
            TimeoutsPatch { connect_ms: Some(0), ..Default::default() },
            "timeouts.connectMs must be between 1 and 3600000",
        ),
        (
            TimeoutsPatch { first_token_ms: Some(0), ..Default::default() },
            "timeouts.firstTokenMs must be between 1 and 3600000",
        ),
        (
            TimeoutsPatch { total_ms: Some(3_600_001), ..Default::default() },
            "timeouts.totalMs must be between 1 and 3600000",
        ),
    ] {
        given_active()
            .when(change_runtime(RuntimePatch { timeouts: Some(patch), ..Default::default() }))
            .then_expect_error(invalid(msg));
    }
}

#[test]
fn change_runtime_refuses_max_attempts_outside_1_to_10() {
    for attempts in [0, 11] {
        given_active()
            .when(change_runtime(RuntimePatch {
                retries: Some(RetriesPatch { max_attempts: Some(attempts), ..Default::default() }),
                ..Default::default()
            }))
            .then_expect_error(invalid("retries.maxAttempts must be between 1 and 10"));
    }
}

#[test]
fn change_runtime_refuses_bad_backoffs() {
    const RANGE: &str = "retries backoff must be at most 60000 (base) and 600000 (max) ms";
    for (patch, msg) in [
        (RetriesPatch { backoff_base_ms: Some(60_001), backoff_max_ms: Some(600_000), ..Default::default() }, RANGE),
        (RetriesPatch { backoff_max_ms: Some(600_001), ..Default::default() }, RANGE),
        (
            RetriesPatch { backoff_base_ms: Some(2_001), ..Default::default() },
            "retries.backoffBaseMs must not exceed retries.backoffMaxMs",
        ),
    ] {
        given_active()
            .when(change_runtime(RuntimePatch { retries: Some(patch), ..Default::default() }))
            .then_expect_error(invalid(msg));
    }
}

#[test]
fn change_runtime_sets_clears_and_validates_the_files_root() {
    let set = RuntimePatch { files_root: Some(Some("/srv/repo".into())), ..Default::default() };
    let with_root = RuntimeProfile { files_root: Some("/srv/repo".into()), ..Default::default() };
    given_active().when(change_runtime(set)).then_expect_events(vec![WorkspaceEvent::RuntimeProfileChanged {
        before: RuntimeProfile::default(),
        after: with_root.clone(),
        at: later(2),
    }]);
    // `null` clears it; an absent field leaves it.
    given(vec![
        created(),
        WorkspaceEvent::RuntimeProfileChanged {
            before: RuntimeProfile::default(),
            after: with_root.clone(),
            at: later(1),
        },
    ])
    .when(change_runtime(RuntimePatch { files_root: Some(None), ..Default::default() }))
    .then_expect_events(vec![WorkspaceEvent::RuntimeProfileChanged {
        before: with_root,
        after: RuntimeProfile::default(),
        at: later(2),
    }]);
    for (root, msg) in [
        ("srv/repo", "filesRoot must be an absolute path"),
        ("", "filesRoot must be 1..=4096 bytes without NUL"),
        ("/srv/../etc", "filesRoot must not contain '.' or '..' components"),
        ("/srv/./repo", "filesRoot must not contain '.' or '..' components"),
    ] {
        given_active()
            .when(change_runtime(RuntimePatch { files_root: Some(Some(root.into())), ..Default::default() }))
            .then_expect_error(invalid(msg));
    }
    // Events recorded before the field existed still decode, and an unset root is not written.
    let old = serde_json::json!({"timeouts": {"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 120000},
        "retries": {"maxAttempts": 2, "backoffBaseMs": 100, "backoffMaxMs": 2000},
        "fallback": "relaxed", "contentCapture": "metadata"});
    let decoded: RuntimeProfile = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(decoded, RuntimeProfile::default());
    assert_eq!(serde_json::to_value(&decoded).unwrap(), old);
}

#[test]
fn change_runtime_that_changes_nothing_emits_no_event() {
    for patch in [
        RuntimePatch::default(),
        RuntimePatch {
            timeouts: Some(TimeoutsPatch::default()),
            retries: Some(RetriesPatch::default()),
            ..Default::default()
        },
        RuntimePatch {
            timeouts: Some(TimeoutsPatch {
                connect_ms: Some(5_000),
                first_token_ms: Some(30_000),
                total_ms: Some(120_000),
                attempt_ms: None,
            }),
            retries: Some(RetriesPatch {
                max_attempts: Some(2),
                backoff_base_ms: Some(100),
                backoff_max_ms: Some(2_000),
            }),
            fallback: Some(FallbackMode::Relaxed),
            content_capture: Some(ContentCapture::Metadata),
            files_root: None,
        },
    ] {
        given_active().when(change_runtime(patch)).then_expect_events(vec![]);
    }
}

// ---------------------------------------------------------------------------------------------
// ChangeRestrictions
// ---------------------------------------------------------------------------------------------

fn restricted() -> Restrictions {
    Restrictions {
        allowed_providers: strings(&["openai", "anthropic"]),
        blocked_providers: strings(&["shady"]),
        allowed_models: vec![],
        blocked_models: strings(&["gpt-3.5-turbo"]),
    }
}

/// `acme` with `restricted()` in force.
fn given_restricted() -> AggregateTestExecutor<Workspace> {
    given(vec![
        created(),
        WorkspaceEvent::RestrictionsChanged { before: Restrictions::default(), after: restricted(), at: later(1) },
    ])
}

#[test]
fn change_restrictions_sets_lists_from_nothing() {
    given_active()
        .when(change_restrictions(RestrictionsPatch {
            allowed_providers: Some(strings(&["openai", "anthropic"])),
            blocked_providers: Some(strings(&["shady"])),
            allowed_models: None,
            blocked_models: Some(strings(&["gpt-3.5-turbo"])),
        }))
        .then_expect_events(vec![WorkspaceEvent::RestrictionsChanged {
            before: Restrictions::default(),
            after: restricted(),
            at: later(2),
        }]);
}

#[test]
fn change_restrictions_replaces_a_list_rather_than_merging_and_keeps_the_others() {
    given_restricted()
        .when(change_restrictions(RestrictionsPatch {
            allowed_providers: Some(strings(&["mistral"])),
            allowed_models: Some(strings(&["mistral-large"])),
            ..Default::default()
        }))
        .then_expect_events(vec![WorkspaceEvent::RestrictionsChanged {
            before: restricted(),
            after: Restrictions {
                allowed_providers: strings(&["mistral"]),
                blocked_providers: strings(&["shady"]),
                allowed_models: strings(&["mistral-large"]),
                blocked_models: strings(&["gpt-3.5-turbo"]),
            },
            at: later(2),
        }]);
}

#[test]
fn change_restrictions_clears_a_list_with_an_empty_one() {
    given_restricted()
        .when(change_restrictions(RestrictionsPatch {
            allowed_providers: Some(vec![]),
            blocked_models: Some(vec![]),
            ..Default::default()
        }))
        .then_expect_events(vec![WorkspaceEvent::RestrictionsChanged {
            before: restricted(),
            after: Restrictions { blocked_providers: strings(&["shady"]), ..Default::default() },
            at: later(2),
        }]);
}

#[test]
fn change_restrictions_refuses_a_provider_both_allowed_and_blocked() {
    const MSG: &str = "provider 'openai' is both allowed and blocked";
    // Both in the patch.
    given_active()
        .when(change_restrictions(RestrictionsPatch {
            allowed_providers: Some(strings(&["openai"])),
            blocked_providers: Some(strings(&["openai"])),
            ..Default::default()
        }))
        .then_expect_error(invalid(MSG));
    // Blocking a provider the current allow-list holds.
    given_restricted()
        .when(change_restrictions(RestrictionsPatch {
            blocked_providers: Some(strings(&["shady", "openai"])),
            ..Default::default()
        }))
        .then_expect_error(invalid(MSG));
}

#[test]
fn change_restrictions_refuses_a_model_both_allowed_and_blocked() {
    // Allowing a model the current block-list holds.
    given_restricted()
        .when(change_restrictions(RestrictionsPatch {
            allowed_models: Some(strings(&["gpt-4o", "gpt-3.5-turbo"])),
            ..Default::default()
        }))
        .then_expect_error(invalid("model 'gpt-3.5-turbo' is both allowed and blocked"));
}

#[test]
fn change_restrictions_refuses_duplicates_in_any_list() {
    for (patch, msg) in [
        (
            RestrictionsPatch { allowed_providers: Some(strings(&["openai", "openai"])), ..Default::default() },
            "allowedProviders[1] repeats 'openai'",
        ),
        (
            RestrictionsPatch { blocked_providers: Some(strings(&["a", "b", "a"])), ..Default::default() },
            "blockedProviders[2] repeats 'a'",
        ),
        (
            RestrictionsPatch { allowed_models: Some(strings(&["m", "m"])), ..Default::default() },
            "allowedModels[1] repeats 'm'",
        ),
        (
            RestrictionsPatch { blocked_models: Some(strings(&["x", "y", "y"])), ..Default::default() },
            "blockedModels[2] repeats 'y'",
        ),
    ] {
        given_active().when(change_restrictions(patch)).then_expect_error(invalid(msg));
    }
}

#[test]
fn change_restrictions_refuses_blank_or_overlong_entries() {
    let long = "p".repeat(201);
    for (patch, msg) in [
        (
            RestrictionsPatch { allowed_providers: Some(strings(&["openai", ""])), ..Default::default() },
            "allowedProviders[1] must be 1..=200 non-blank characters",
        ),
        (
            RestrictionsPatch { blocked_models: Some(strings(&["  "])), ..Default::default() },
            "blockedModels[0] must be 1..=200 non-blank characters",
        ),
        (
            RestrictionsPatch { blocked_providers: Some(vec![long]), ..Default::default() },
            "blockedProviders[0] must be 1..=200 non-blank characters",
        ),
    ] {
        given_active().when(change_restrictions(patch)).then_expect_error(invalid(msg));
    }
}

#[test]
fn change_restrictions_refuses_a_list_over_500_entries() {
    let many: Vec<String> = (0..501).map(|i| format!("model-{i}")).collect();
    given_active()
        .when(change_restrictions(RestrictionsPatch { allowed_models: Some(many), ..Default::default() }))
        .then_expect_error(invalid("allowedModels may hold at most 500 entries"));
}

#[test]
fn change_restrictions_that_changes_nothing_emits_no_event() {
    for patch in [
        RestrictionsPatch::default(),
        RestrictionsPatch {
            allowed_providers: Some(strings(&["openai", "anthropic"])),
            blocked_providers: Some(strings(&["shady"])),
            allowed_models: Some(vec![]),
            blocked_models: Some(strings(&["gpt-3.5-turbo"])),
        },
    ] {
        given_restricted().when(change_restrictions(patch)).then_expect_events(vec![]);
    }
    given_active()
        .when(change_restrictions(RestrictionsPatch { allowed_models: Some(vec![]), ..Default::default() }))
        .then_expect_events(vec![]);
}

#[test]
fn empty_restrictions_permit_everything() {
    let r = Restrictions::default();
    assert!(r.permits_provider("openai"));
    assert!(r.permits_provider("anything"));
    assert!(r.permits_model("gpt-4o"));
}

#[test]
fn a_non_empty_allow_list_permits_only_its_entries() {
    let r = Restrictions {
        allowed_providers: strings(&["openai"]),
        allowed_models: strings(&["gpt-4o"]),
        ..Default::default()
    };
    assert!(r.permits_provider("openai"));
    assert!(!r.permits_provider("anthropic"));
    assert!(!r.permits_provider("OpenAI"), "matching is exact");
    assert!(r.permits_model("gpt-4o"));
    assert!(!r.permits_model("gpt-4o-mini"));
}

#[test]
fn the_block_list_wins() {
    // Only a block-list: everything else is permitted.
    let r = Restrictions {
        blocked_providers: strings(&["shady"]),
        blocked_models: strings(&["gpt-3.5-turbo"]),
        ..Default::default()
    };
    assert!(!r.permits_provider("shady"));
    assert!(r.permits_provider("openai"));
    assert!(!r.permits_model("gpt-3.5-turbo"));
    assert!(r.permits_model("gpt-4o"));

    // Listed in both (validation refuses this, but the check itself must still deny).
    let both = Restrictions {
        allowed_providers: strings(&["openai"]),
        blocked_providers: strings(&["openai"]),
        allowed_models: strings(&["gpt-4o"]),
        blocked_models: strings(&["gpt-4o"]),
    };
    assert!(!both.permits_provider("openai"));
    assert!(!both.permits_model("gpt-4o"));
}

#[test]
fn providers_and_models_are_restricted_independently() {
    let r = restricted();
    assert!(r.permits_provider("openai"));
    assert!(r.permits_provider("anthropic"));
    assert!(!r.permits_provider("shady"));
    assert!(!r.permits_provider("mistral"));
    // The allowed-model list is empty, so only the block-list applies to models.
    assert!(r.permits_model("claude-sonnet"));
    assert!(!r.permits_model("gpt-3.5-turbo"));
    // A provider name is not a model name and vice versa.
    assert!(r.permits_model("shady"));
}

// ---------------------------------------------------------------------------------------------
// IssueKey / RevokeKey
// ---------------------------------------------------------------------------------------------

#[test]
fn issue_key_records_the_key() {
    given_active()
        .when(issue(key("k1")))
        .then_expect_events(vec![WorkspaceEvent::ApiKeyIssued { key: key("k1"), at: later(2) }]);
}

#[test]
fn issue_key_accepts_several_distinct_keys() {
    given(vec![created(), issued("k1")])
        .when(issue(key("k2")))
        .then_expect_events(vec![WorkspaceEvent::ApiKeyIssued { key: key("k2"), at: later(2) }]);
}

#[test]
fn issue_key_refuses_a_duplicate_id_live_or_revoked() {
    given(vec![created(), issued("k1")])
        .when(issue(key("k1")))
        .then_expect_error(WorkspaceError::KeyExists("k1".into()));
    // Same id with different material is still a duplicate.
    let mut other = key("k1");
    other.hash = "cd".repeat(32);
    other.name = "other".into();
    given(vec![created(), issued("k1")]).when(issue(other)).then_expect_error(WorkspaceError::KeyExists("k1".into()));
    // A revoked key's id is not reusable.
    given(vec![created(), issued("k1"), revoked("k1")])
        .when(issue(key("k1")))
        .then_expect_error(WorkspaceError::KeyExists("k1".into()));
}

#[test]
fn issue_key_refuses_a_malformed_hash() {
    for hash in [
        String::new(),
        "ab".repeat(31) + "a",  // 63
        "ab".repeat(32) + "a",  // 65
        "g".repeat(64),         // not hex
        "ab".repeat(31) + " a", // a space
    ] {
        let mut bad = key("k1");
        bad.hash = hash;
        given_active().when(issue(bad)).then_expect_error(invalid(HASH_MSG));
    }
}

#[test]
fn issue_key_refuses_a_bad_id_or_name() {
    for (id, name, msg) in [
        ("", "ci", "keyId must be 1..=64 characters"),
        (&*"k".repeat(65), "ci", "keyId must be 1..=64 characters"),
        ("k1", &*"n".repeat(101), "name must be at most 100 characters"),
    ] {
        let mut bad = key(id);
        bad.name = name.into();
        given_active().when(issue(bad)).then_expect_error(invalid(msg));
    }
}

#[test]
fn issue_key_validates_before_checking_for_duplicates() {
    let mut bad = key("k1");
    bad.hash = "xyz".into();
    given(vec![created(), issued("k1")]).when(issue(bad)).then_expect_error(invalid(HASH_MSG));
}

#[test]
fn revoke_key_records_the_revocation() {
    given(vec![created(), issued("k1"), issued("k2")])
        .when(revoke("k1"))
        .then_expect_events(vec![WorkspaceEvent::ApiKeyRevoked { key_id: "k1".into(), at: later(2) }]);
}

#[test]
fn revoking_a_key_twice_emits_no_event() {
    given(vec![created(), issued("k1"), revoked("k1")]).when(revoke("k1")).then_expect_events(vec![]);
}

#[test]
fn revoking_one_key_leaves_the_others_live() {
    given(vec![created(), issued("k1"), issued("k2"), revoked("k1")])
        .when(revoke("k2"))
        .then_expect_events(vec![WorkspaceEvent::ApiKeyRevoked { key_id: "k2".into(), at: later(2) }]);
}

#[test]
fn revoking_an_unknown_key_fails() {
    given_active().when(revoke("nope")).then_expect_error(WorkspaceError::KeyNotFound("nope".into()));
    given(vec![created(), issued("k1")]).when(revoke("k2")).then_expect_error(WorkspaceError::KeyNotFound("k2".into()));
}

// ---------------------------------------------------------------------------------------------
// Event metadata
// ---------------------------------------------------------------------------------------------

#[test]
fn events_expose_their_time_type_and_version() {
    use cqrs_es::DomainEvent;
    let e = WorkspaceEvent::ApiKeyRevoked { key_id: "k1".into(), at: later(7) };
    assert_eq!(e.at(), later(7));
    assert_eq!(e.event_type(), "ApiKeyRevoked");
    assert_eq!(e.event_version(), "1.0");
    assert_eq!(created().event_type(), "WorkspaceCreated");
    assert_eq!(deleted().at(), later(1));
}

// ---------------------------------------------------------------------------------------------
// Serde of the value types
// ---------------------------------------------------------------------------------------------

#[test]
fn limits_patch_rejects_unknown_fields() {
    let err = serde_json::from_str::<LimitsPatch>(r#"{"tier":"free","bogus":1}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
    // Inside the overrides too, e.g. a snake_case spelling.
    let err = serde_json::from_str::<LimitsPatch>(r#"{"overrides":{"requests_per_minute":5}}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `requests_per_minute`"), "{err}");
    // The known fields, camelCase, parse.
    let ok: LimitsPatch =
        serde_json::from_str(r#"{"tier":"enterprise","overrides":{"requestsPerMinute":5,"burst":2}}"#).unwrap();
    assert_eq!(
        ok,
        LimitsPatch {
            tier: Some(Tier::Enterprise),
            overrides: Some(OverridesPatch { requests_per_minute: Some(Some(5)), burst: Some(Some(2)) }),
        }
    );
    assert_eq!(serde_json::from_str::<LimitsPatch>("{}").unwrap(), LimitsPatch::default());
}

#[test]
fn overrides_patch_distinguishes_absent_from_null() {
    let absent: OverridesPatch = serde_json::from_str("{}").unwrap();
    assert_eq!(absent, OverridesPatch { requests_per_minute: None, burst: None });

    let null: OverridesPatch = serde_json::from_str(r#"{"requestsPerMinute":null}"#).unwrap();
    assert_eq!(null, OverridesPatch { requests_per_minute: Some(None), burst: None });

    let value: OverridesPatch = serde_json::from_str(r#"{"burst":7,"requestsPerMinute":null}"#).unwrap();
    assert_eq!(value, OverridesPatch { requests_per_minute: Some(None), burst: Some(Some(7)) });

    // End to end: a JSON null clears just that override.
    let patch: LimitsPatch = serde_json::from_str(r#"{"overrides":{"burst":null}}"#).unwrap();
    assert_eq!(patch.apply(&limits(Tier::Free, Some(100), Some(20))), limits(Tier::Free, Some(100), None));
    let patch: LimitsPatch = serde_json::from_str(r#"{"overrides":{}}"#).unwrap();
    assert_eq!(patch.apply(&limits(Tier::Free, Some(100), Some(20))), limits(Tier::Free, Some(100), Some(20)));
}

#[test]
fn tier_serializes_lowercase() {
    for (tier, json) in
        [(Tier::Free, "\"free\""), (Tier::Standard, "\"standard\""), (Tier::Enterprise, "\"enterprise\"")]
    {
        assert_eq!(serde_json::to_string(&tier).unwrap(), json);
        assert_eq!(serde_json::from_str::<Tier>(json).unwrap(), tier);
    }
    assert!(serde_json::from_str::<Tier>("\"Free\"").is_err());
    assert!(serde_json::from_str::<Tier>("\"premium\"").is_err());
    assert_eq!(
        serde_json::to_value(limits(Tier::Enterprise, Some(10), None)).unwrap(),
        serde_json::json!({ "tier": "enterprise", "overrides": { "requestsPerMinute": 10 } })
    );
}
