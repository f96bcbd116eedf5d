use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Installation>;

fn key(id: &str) -> KeyRecord {
    KeyRecord { key_id: id.into(), name: "ops".into(), prefix: "lyr_abcd1234".into(), hash: "ab".repeat(32) }
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

#[test]
fn bootstrap_issues_the_first_admin_key() {
    F::with(())
        .given_no_previous_events()
        .when(InstallationCommand::BootstrapAdminKey { key: key("k1"), at: at() })
        .then_expect_events(vec![InstallationEvent::AdminKeyIssued { key: key("k1"), bootstrap: true, at: at() }]);
}

#[test]
fn bootstrap_is_refused_once_a_key_exists() {
    F::with(())
        .given(vec![InstallationEvent::AdminKeyIssued { key: key("k1"), bootstrap: true, at: at() }])
        .when(InstallationCommand::BootstrapAdminKey { key: key("k2"), at: at() })
        .then_expect_error(InstallationError::AlreadyBootstrapped);
}

#[test]
fn revoking_an_unknown_admin_key_fails_and_twice_is_a_no_op() {
    F::with(())
        .given_no_previous_events()
        .when(InstallationCommand::RevokeAdminKey { key_id: "nope".into(), at: at() })
        .then_expect_error(InstallationError::KeyNotFound("nope".into()));
    F::with(())
        .given(vec![
            InstallationEvent::AdminKeyIssued { key: key("k1"), bootstrap: true, at: at() },
            InstallationEvent::AdminKeyRevoked { key_id: "k1".into(), at: at() },
        ])
        .when(InstallationCommand::RevokeAdminKey { key_id: "k1".into(), at: at() })
        .then_expect_events(vec![]);
}

#[test]
fn a_malformed_key_record_is_refused() {
    let mut bad = key("k1");
    bad.hash = "xyz".into();
    F::with(())
        .given_no_previous_events()
        .when(InstallationCommand::IssueAdminKey { key: bad, at: at() })
        .then_expect_error(InstallationError::Invalid("hash must be 64 hex characters".into()));
}

#[test]
fn a_master_key_rotation_is_recorded_by_key_ids() {
    F::with(())
        .given_no_previous_events()
        .when(InstallationCommand::RecordMasterKeyRotation {
            from: vec!["mk-1".into()],
            to: "mk-2".into(),
            rewrapped: 3,
            at: at(),
        })
        .then_expect_events(vec![InstallationEvent::MasterKeyRotated {
            before: vec!["mk-1".into()],
            after: "mk-2".into(),
            rewrapped: 3,
            at: at(),
        }]);
}
