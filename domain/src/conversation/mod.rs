//! The Conversation aggregate: a workspace's chat history on `/api/chat`. Its messages (the
//! user's turns and the answers, each answer linked to the trace that produced it) are events.
//! Pure: ids, times, usage and cost come in on the command. A conversation keeps its messages'
//! content whatever the workspace's trace `contentCapture` says: keeping it is what the caller
//! asked for by chatting in a conversation (see docs/EVENTS.md); deleting it ends it.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// Longest title kept (characters).
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    System,
    User,
    Assistant,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<MessageRole> {
        match s {
            "system" => Some(MessageRole::System),
            "user" => Some(MessageRole::User),
            "assistant" => Some(MessageRole::Assistant),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub tokens_in: u64,
    pub tokens_out: u64,
}

/// A message to add. `trace_id` is the request that carried it (for an answer: the trace that
/// produced it); `model`, `provider`, `tokens` and `cost_micros` describe an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    pub role: MessageRole,
    pub content: String,
    pub trace_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub tokens: Option<Tokens>,
    pub cost_micros: Option<i64>,
}

impl NewMessage {
    pub fn text(role: MessageRole, content: impl Into<String>) -> NewMessage {
        NewMessage {
            role,
            content: content.into(),
            trace_id: None,
            model: None,
            provider: None,
            tokens: None,
            cost_micros: None,
        }
    }

    fn validate(&self, i: usize) -> Result<(), String> {
        // An answer may be empty (a length or content-filter stop); what a person sends may not.
        if self.role != MessageRole::Assistant && self.content.trim().is_empty() {
            return Err(format!("messages[{i}].content must not be blank"));
        }
        if self.cost_micros.is_some_and(|c| c < 0) {
            return Err(format!("messages[{i}].costMicros must not be negative"));
        }
        Ok(())
    }
}

/// A message as the conversation holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMessage {
    #[serde(flatten)]
    pub message: NewMessage,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum ConversationCommand {
    /// Starts a conversation with its first messages (one commit: a conversation never exists
    /// without the turn that created it).
    StartConversation {
        workspace: String,
        title: Option<String>,
        messages: Vec<NewMessage>,
        at: DateTime<Utc>,
    },
    /// One turn: the user's message(s) and the answer, in order.
    AddMessages {
        messages: Vec<NewMessage>,
        at: DateTime<Utc>,
    },
    DeleteConversation {
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum ConversationEvent {
    ConversationStarted {
        workspace: String,
        title: Option<String>,
        at: DateTime<Utc>,
    },
    MessageAdded {
        role: MessageRole,
        content: String,
        trace_id: Option<String>,
        model: Option<String>,
        provider: Option<String>,
        tokens: Option<Tokens>,
        cost_micros: Option<i64>,
        at: DateTime<Utc>,
    },
    ConversationDeleted {
        at: DateTime<Utc>,
    },
}

impl ConversationEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ConversationEvent::ConversationStarted { at, .. }
            | ConversationEvent::MessageAdded { at, .. }
            | ConversationEvent::ConversationDeleted { at } => *at,
        }
    }

    fn added(m: NewMessage, at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::MessageAdded {
            role: m.role,
            content: m.content,
            trace_id: m.trace_id,
            model: m.model,
            provider: m.provider,
            tokens: m.tokens,
            cost_micros: m.cost_micros,
            at,
        }
    }
}

impl DomainEvent for ConversationEvent {
    fn event_type(&self) -> String {
        match self {
            ConversationEvent::ConversationStarted { .. } => "ConversationStarted",
            ConversationEvent::MessageAdded { .. } => "MessageAdded",
            ConversationEvent::ConversationDeleted { .. } => "ConversationDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("conversation already exists")]
    AlreadyExists,
    #[error("conversation does not exist")]
    NotFound,
    #[error("conversation was deleted")]
    Deleted,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conversation {
    /// `None` until started.
    pub workspace: Option<String>,
    pub title: Option<String>,
    pub messages: Vec<ConversationMessage>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl Conversation {
    /// A live conversation (started, not deleted).
    pub fn is_live(&self) -> bool {
        self.workspace.is_some() && !self.deleted
    }

    fn live(&self) -> Result<(), ConversationError> {
        match (&self.workspace, self.deleted) {
            (None, _) => Err(ConversationError::NotFound),
            (Some(_), true) => Err(ConversationError::Deleted),
            (Some(_), false) => Ok(()),
        }
    }
}

fn validate_messages(messages: &[NewMessage]) -> Result<(), ConversationError> {
    for (i, m) in messages.iter().enumerate() {
        m.validate(i).map_err(ConversationError::Invalid)?;
    }
    Ok(())
}

impl Aggregate for Conversation {
    const TYPE: &'static str = "Conversation";
    type Command = ConversationCommand;
    type Event = ConversationEvent;
    type Error = ConversationError;
    type Services = ();

    async fn handle(&mut self, command: Self::Command, _: &(), sink: &EventSink<Self>) -> Result<(), Self::Error> {
        use ConversationCommand as C;
        use ConversationEvent as E;
        let events = match command {
            C::StartConversation { workspace, title, messages, at } => {
                if self.workspace.is_some() {
                    return Err(ConversationError::AlreadyExists);
                }
                if workspace.trim().is_empty() {
                    return Err(ConversationError::Invalid("workspace must not be blank".into()));
                }
                if title.as_ref().is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS) {
                    return Err(ConversationError::Invalid(format!(
                        "title must be at most {MAX_TITLE_CHARS} characters"
                    )));
                }
                validate_messages(&messages)?;
                let mut events = vec![E::ConversationStarted { workspace, title, at }];
                events.extend(messages.into_iter().map(|m| E::added(m, at)));
                events
            }
            C::AddMessages { messages, at } => {
                self.live()?;
                if messages.is_empty() {
                    return Err(ConversationError::Invalid("at least one message is needed".into()));
                }
                validate_messages(&messages)?;
                messages.into_iter().map(|m| E::added(m, at)).collect()
            }
            C::DeleteConversation { at } => {
                self.live()?;
                vec![E::ConversationDeleted { at }]
            }
        };
        for e in events {
            sink.write(e, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let at = event.at();
        self.updated_at = Some(at);
        match event {
            ConversationEvent::ConversationStarted { workspace, title, at } => {
                self.workspace = Some(workspace);
                self.title = title;
                self.created_at = Some(at);
            }
            ConversationEvent::MessageAdded { role, content, trace_id, model, provider, tokens, cost_micros, at } => {
                self.messages.push(ConversationMessage {
                    message: NewMessage { role, content, trace_id, model, provider, tokens, cost_micros },
                    at,
                });
            }
            ConversationEvent::ConversationDeleted { .. } => self.deleted = true,
        }
    }
}
