use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<StoredResponse>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn stored() -> Box<Stored> {
    Box::new(Stored {
        workspace: "acme".into(),
        trace_id: "t1".into(),
        model: "gpt-4o-mini".into(),
        previous_response_id: None,
        instructions: Some("be brief".into()),
        status: ResponseStatus::Completed,
        input: vec![Item::Message { id: "msg_1".into(), role: ItemRole::User, text: "hi".into(), images: vec![] }],
        output: vec![Item::FunctionCall {
            id: "fc_1".into(),
            call_id: "call_1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        }],
        usage: ResponseUsage { input_tokens: 3, output_tokens: 4, ..Default::default() },
        metadata: vec![("k".into(), "v".into())],
    })
}

#[test]
fn a_response_is_stored_once_and_deleted_once() {
    F::with(())
        .given_no_previous_events()
        .when(ResponseCommand::Store { stored: stored(), at: at() })
        .then_expect_events(vec![ResponseEvent::ResponseStored { stored: stored(), at: at() }]);
    F::with(())
        .given(vec![ResponseEvent::ResponseStored { stored: stored(), at: at() }])
        .when(ResponseCommand::Store { stored: stored(), at: at() })
        .then_expect_error(ResponseError::AlreadyExists);
    F::with(())
        .given(vec![ResponseEvent::ResponseStored { stored: stored(), at: at() }])
        .when(ResponseCommand::Delete { at: at() })
        .then_expect_events(vec![ResponseEvent::ResponseDeleted { at: at() }]);
    F::with(())
        .given(vec![
            ResponseEvent::ResponseStored { stored: stored(), at: at() },
            ResponseEvent::ResponseDeleted { at: at() },
        ])
        .when(ResponseCommand::Delete { at: at() })
        .then_expect_error(ResponseError::Deleted);
    F::with(())
        .given_no_previous_events()
        .when(ResponseCommand::Delete { at: at() })
        .then_expect_error(ResponseError::NotFound);
}

#[test]
fn a_blank_workspace_or_too_many_items_is_refused() {
    let mut s = stored();
    s.workspace = " ".into();
    F::with(())
        .given_no_previous_events()
        .when(ResponseCommand::Store { stored: s, at: at() })
        .then_expect_error(ResponseError::Invalid("workspace must not be blank".into()));
    let mut s = stored();
    s.input = vec![s.input[0].clone(); MAX_ITEMS];
    F::with(())
        .given_no_previous_events()
        .when(ResponseCommand::Store { stored: s, at: at() })
        .then_expect_error(ResponseError::Invalid(format!("a response holds at most {MAX_ITEMS} items")));
}

#[test]
fn items_serialise_as_the_responses_api_names_them() {
    let v = serde_json::to_value(&stored().output[0]).unwrap();
    assert_eq!(v["type"], "function_call");
    assert_eq!(v["call_id"], "call_1");
}
