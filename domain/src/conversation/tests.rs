use chrono::{Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Conversation>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn later(s: i64) -> DateTime<Utc> {
    at() + Duration::seconds(s)
}

fn user(text: &str) -> NewMessage {
    NewMessage { trace_id: Some("t1".into()), ..NewMessage::text(MessageRole::User, text) }
}

fn answer(text: &str) -> NewMessage {
    NewMessage {
        role: MessageRole::Assistant,
        content: text.into(),
        trace_id: Some("t1".into()),
        model: Some("gpt-4o-mini".into()),
        provider: Some("openai".into()),
        tokens: Some(Tokens { tokens_in: 12, tokens_out: 5 }),
        cost_micros: Some(42),
    }
}

fn added(m: NewMessage, at: DateTime<Utc>) -> ConversationEvent {
    ConversationEvent::added(m, at)
}

fn started() -> ConversationEvent {
    ConversationEvent::ConversationStarted { workspace: "acme".into(), title: Some("Hello".into()), at: at() }
}

#[test]
fn start_records_the_first_turn_in_one_commit() {
    F::with(())
        .given_no_previous_events()
        .when(ConversationCommand::StartConversation {
            workspace: "acme".into(),
            title: Some("Hello".into()),
            messages: vec![user("Hello"), answer("Hi there")],
            at: at(),
        })
        .then_expect_events(vec![started(), added(user("Hello"), at()), added(answer("Hi there"), at())]);
}

#[test]
fn a_started_conversation_cannot_start_again() {
    F::with(())
        .given(vec![started()])
        .when(ConversationCommand::StartConversation {
            workspace: "acme".into(),
            title: None,
            messages: vec![],
            at: later(1),
        })
        .then_expect_error(ConversationError::AlreadyExists);
}

#[test]
fn messages_are_added_in_order_to_a_live_conversation() {
    F::with(())
        .given(vec![started(), added(user("Hello"), at())])
        .when(ConversationCommand::AddMessages {
            messages: vec![user("And then?"), answer("Then this.")],
            at: later(5),
        })
        .then_expect_events(vec![added(user("And then?"), later(5)), added(answer("Then this."), later(5))]);
}

#[test]
fn nothing_is_added_to_a_missing_or_deleted_conversation() {
    F::with(())
        .given_no_previous_events()
        .when(ConversationCommand::AddMessages { messages: vec![user("x")], at: at() })
        .then_expect_error(ConversationError::NotFound);
    F::with(())
        .given(vec![started(), ConversationEvent::ConversationDeleted { at: later(1) }])
        .when(ConversationCommand::AddMessages { messages: vec![user("x")], at: later(2) })
        .then_expect_error(ConversationError::Deleted);
}

#[test]
fn delete_once() {
    F::with(())
        .given(vec![started()])
        .when(ConversationCommand::DeleteConversation { at: later(1) })
        .then_expect_events(vec![ConversationEvent::ConversationDeleted { at: later(1) }]);
    F::with(())
        .given(vec![started(), ConversationEvent::ConversationDeleted { at: later(1) }])
        .when(ConversationCommand::DeleteConversation { at: later(2) })
        .then_expect_error(ConversationError::Deleted);
    F::with(())
        .given_no_previous_events()
        .when(ConversationCommand::DeleteConversation { at: at() })
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn invalid_turns_are_refused() {
    F::with(())
        .given(vec![started()])
        .when(ConversationCommand::AddMessages { messages: vec![], at: later(1) })
        .then_expect_error(ConversationError::Invalid("at least one message is needed".into()));
    F::with(())
        .given(vec![started()])
        .when(ConversationCommand::AddMessages { messages: vec![user("ok"), user("  ")], at: later(1) })
        .then_expect_error(ConversationError::Invalid("messages[1].content must not be blank".into()));
    let mut bad = answer("x");
    bad.cost_micros = Some(-1);
    F::with(())
        .given(vec![started()])
        .when(ConversationCommand::AddMessages { messages: vec![bad], at: later(1) })
        .then_expect_error(ConversationError::Invalid("messages[0].costMicros must not be negative".into()));
    F::with(())
        .given_no_previous_events()
        .when(ConversationCommand::StartConversation {
            workspace: "acme".into(),
            title: Some("t".repeat(MAX_TITLE_CHARS + 1)),
            messages: vec![],
            at: at(),
        })
        .then_expect_error(ConversationError::Invalid(format!("title must be at most {MAX_TITLE_CHARS} characters")));
    F::with(())
        .given_no_previous_events()
        .when(ConversationCommand::StartConversation { workspace: " ".into(), title: None, messages: vec![], at: at() })
        .then_expect_error(ConversationError::Invalid("workspace must not be blank".into()));
}

#[test]
fn an_empty_answer_is_kept() {
    F::with(())
        .given(vec![started()])
        .when(ConversationCommand::AddMessages { messages: vec![answer("")], at: later(1) })
        .then_expect_events(vec![added(answer(""), later(1))]);
}

#[test]
fn state_follows_the_events() {
    let mut c = Conversation::default();
    assert!(!c.is_live());
    for e in [started(), added(user("Hello"), at()), added(answer("Hi"), later(3))] {
        c.apply(e);
    }
    assert!(c.is_live());
    assert_eq!(c.workspace.as_deref(), Some("acme"));
    assert_eq!(c.messages.len(), 2);
    assert_eq!(c.messages[1].message.cost_micros, Some(42));
    assert_eq!((c.created_at, c.updated_at), (Some(at()), Some(later(3))));
    c.apply(ConversationEvent::ConversationDeleted { at: later(4) });
    assert!(!c.is_live());
}

#[test]
fn events_have_the_documented_shape() {
    let e = added(answer("Hi"), at());
    assert_eq!(e.event_type(), "MessageAdded");
    assert_eq!(e.event_version(), "1.0");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        serde_json::json!({"MessageAdded": {
            "role": "assistant", "content": "Hi", "traceId": "t1", "model": "gpt-4o-mini", "provider": "openai",
            "tokens": {"tokensIn": 12, "tokensOut": 5}, "costMicros": 42, "at": "2026-01-01T00:00:00Z"
        }})
    );
    assert_eq!(
        serde_json::to_value(started()).unwrap(),
        serde_json::json!({"ConversationStarted": {"workspace": "acme", "title": "Hello", "at": "2026-01-01T00:00:00Z"}})
    );
}
