use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Secret>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn v(version: u32, fp: &str, storage: &str, mk: &str) -> SecretVersion {
    SecretVersion { version, fingerprint: fp.into(), storage_id: storage.into(), master_key_id: mk.into() }
}

fn created() -> SecretEvent {
    SecretEvent::SecretCreated { id: "openai-key".into(), current: v(1, "aaaaaaaaaaaa", "s1", "mk-1"), at: at() }
}

#[test]
fn create_then_rotate_counts_versions() {
    F::with(())
        .given_no_previous_events()
        .when(SecretCommand::CreateSecret {
            id: "openai-key".into(),
            fingerprint: "aaaaaaaaaaaa".into(),
            storage_id: "s1".into(),
            master_key_id: "mk-1".into(),
            at: at(),
        })
        .then_expect_events(vec![created()]);
    F::with(())
        .given(vec![created()])
        .when(SecretCommand::RotateSecret {
            fingerprint: "bbbbbbbbbbbb".into(),
            storage_id: "s2".into(),
            master_key_id: "mk-1".into(),
            at: at(),
        })
        .then_expect_events(vec![SecretEvent::SecretRotated {
            before: v(1, "aaaaaaaaaaaa", "s1", "mk-1"),
            after: v(2, "bbbbbbbbbbbb", "s2", "mk-1"),
            at: at(),
        }]);
}

#[test]
fn names_and_fingerprints_are_validated() {
    for bad in ["", "a", "-x", "Upper", "has space", "dot.ted", &"x".repeat(64)] {
        assert!(validate_id(bad).is_err(), "{bad:?}");
    }
    assert!(validate_id("openai_prod-2").is_ok());
    F::with(())
        .given_no_previous_events()
        .when(SecretCommand::CreateSecret {
            id: "k1".into(),
            fingerprint: "sk-live-value".into(),
            storage_id: "s1".into(),
            master_key_id: "mk-1".into(),
            at: at(),
        })
        .then_expect_error(SecretError::Invalid("fingerprint must be 12 hex digits".into()));
}

#[test]
fn duplicates_missing_and_deleted() {
    F::with(())
        .given(vec![created()])
        .when(SecretCommand::CreateSecret {
            id: "openai-key".into(),
            fingerprint: "aaaaaaaaaaaa".into(),
            storage_id: "s9".into(),
            master_key_id: "mk-1".into(),
            at: at(),
        })
        .then_expect_error(SecretError::AlreadyExists("openai-key".into()));
    F::with(())
        .given_no_previous_events()
        .when(SecretCommand::DeleteSecret { at: at() })
        .then_expect_error(SecretError::NotFound);
    // Created again after a deletion, the version continues.
    F::with(())
        .given(vec![created(), SecretEvent::SecretDeleted { at: at() }])
        .when(SecretCommand::CreateSecret {
            id: "openai-key".into(),
            fingerprint: "cccccccccccc".into(),
            storage_id: "s3".into(),
            master_key_id: "mk-1".into(),
            at: at(),
        })
        .then_expect_events(vec![SecretEvent::SecretCreated {
            id: "openai-key".into(),
            current: v(2, "cccccccccccc", "s3", "mk-1"),
            at: at(),
        }]);
}

#[test]
fn a_rewrap_applies_to_the_current_value_only() {
    F::with(())
        .given(vec![created()])
        .when(SecretCommand::RecordRewrap { storage_id: "s1".into(), master_key_id: "mk-2".into(), at: at() })
        .then_expect_events(vec![SecretEvent::SecretRewrapped {
            version: 1,
            before: "mk-1".into(),
            after: "mk-2".into(),
            at: at(),
        }]);
    F::with(())
        .given(vec![created()])
        .when(SecretCommand::RecordRewrap { storage_id: "s0".into(), master_key_id: "mk-2".into(), at: at() })
        .then_expect_error(SecretError::Moved);
    F::with(())
        .given(vec![created()])
        .when(SecretCommand::RecordRewrap { storage_id: "s1".into(), master_key_id: "mk-1".into(), at: at() })
        .then_expect_events(vec![]);
}
