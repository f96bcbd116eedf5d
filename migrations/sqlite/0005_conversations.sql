-- Read model: conversations of /api/chat (one row each) and their messages. `version` is the last
-- event sequence applied, so a replayed event changes nothing twice. A deleted conversation keeps
-- its row (marked) and loses its messages here; its events stay in the store.
CREATE TABLE conversations
(
    id            text PRIMARY KEY,
    workspace     text    NOT NULL,
    title         text,
    created_at_ms integer NOT NULL,
    updated_at_ms integer NOT NULL,
    version       integer NOT NULL,
    message_count integer NOT NULL,
    tokens_in     integer NOT NULL,
    tokens_out    integer NOT NULL,
    cost_micros   integer NOT NULL,
    deleted_at_ms integer
) STRICT;
CREATE INDEX conversations_workspace_idx ON conversations (workspace, created_at_ms, id);

CREATE TABLE conversation_messages
(
    conversation_id text    NOT NULL,
    seq             integer NOT NULL,
    role            text    NOT NULL,
    content         text    NOT NULL,
    trace_id        text,
    model           text,
    provider        text,
    tokens_in       integer,
    tokens_out      integer,
    cost_micros     integer,
    at_ms           integer NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) STRICT;
CREATE INDEX conversation_messages_trace_idx ON conversation_messages (trace_id);
