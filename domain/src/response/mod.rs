//! The Response aggregate: an answer of the OpenAI Responses API (`POST /v1/responses`) that the
//! client asked to keep (`store`, the default). Its events carry the request's own input items
//! and the answer's output items, typed, so `previous_response_id` continues a conversation
//! after a restart and on any node: the history is the chain of stored responses, walked back
//! through their `previous_response_id`s. Pure: ids, times and usage come in on the command.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// Most items one stored response may hold (input and output together).
pub const MAX_ITEMS: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemRole {
    System,
    Developer,
    User,
    Assistant,
}

/// One item of a conversation, as the Responses API names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A message: its text and the URLs (or data URLs) of its images.
    Message {
        id: String,
        role: ItemRole,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<String>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    FunctionCallOutput {
        id: String,
        call_id: String,
        output: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
}

/// What a stored response records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub workspace: String,
    /// The trace that produced the answer.
    pub trace_id: String,
    pub model: String,
    pub previous_response_id: Option<String>,
    pub instructions: Option<String>,
    /// `completed` or `incomplete`.
    pub status: ResponseStatus,
    pub input: Vec<Item>,
    pub output: Vec<Item>,
    pub usage: ResponseUsage,
    /// The client's `metadata` (at most 16 string pairs, checked at the edge).
    #[serde(default)]
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    Completed,
    Incomplete,
}

impl ResponseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::Completed => "completed",
            ResponseStatus::Incomplete => "incomplete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResponseCommand {
    Store { stored: Box<Stored>, at: DateTime<Utc> },
    Delete { at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResponseEvent {
    ResponseStored { stored: Box<Stored>, at: DateTime<Utc> },
    ResponseDeleted { at: DateTime<Utc> },
}

impl DomainEvent for ResponseEvent {
    fn event_type(&self) -> String {
        match self {
            ResponseEvent::ResponseStored { .. } => "ResponseStored",
            ResponseEvent::ResponseDeleted { .. } => "ResponseDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("response already exists")]
    AlreadyExists,
    #[error("response does not exist")]
    NotFound,
    #[error("response was deleted")]
    Deleted,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub stored: Option<Box<Stored>>,
    pub created_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl StoredResponse {
    /// The stored response, unless it never existed or was deleted.
    pub fn live(&self) -> Result<&Stored, ResponseError> {
        match (&self.stored, self.deleted) {
            (None, _) => Err(ResponseError::NotFound),
            (Some(_), true) => Err(ResponseError::Deleted),
            (Some(s), false) => Ok(s),
        }
    }
}

impl Aggregate for StoredResponse {
    const TYPE: &'static str = "Response";
    type Command = ResponseCommand;
    type Event = ResponseEvent;
    type Error = ResponseError;
    type Services = ();

    async fn handle(&mut self, command: Self::Command, _: &(), sink: &EventSink<Self>) -> Result<(), Self::Error> {
        let event = match command {
            ResponseCommand::Store { stored, at } => {
                if self.stored.is_some() {
                    return Err(ResponseError::AlreadyExists);
                }
                if stored.workspace.trim().is_empty() {
                    return Err(ResponseError::Invalid("workspace must not be blank".into()));
                }
                if stored.input.len() + stored.output.len() > MAX_ITEMS {
                    return Err(ResponseError::Invalid(format!("a response holds at most {MAX_ITEMS} items")));
                }
                ResponseEvent::ResponseStored { stored, at }
            }
            ResponseCommand::Delete { at } => {
                self.live()?;
                ResponseEvent::ResponseDeleted { at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ResponseEvent::ResponseStored { stored, at } => {
                self.stored = Some(stored);
                self.created_at = Some(at);
            }
            ResponseEvent::ResponseDeleted { .. } => self.deleted = true,
        }
    }
}
