-- Read model: one row per trace (request). Filter columns plus the whole folded view as JSON.
CREATE TABLE traces
(
    trace_id      text PRIMARY KEY,
    position      bigint  NOT NULL,
    workspace     text    NOT NULL,
    started_at_ms bigint  NOT NULL,
    status        text    NOT NULL,
    intent        text    NOT NULL,
    strategy      text    NOT NULL,
    provider      text,
    model         text,
    latency_ms    bigint,
    cost_micros   bigint  NOT NULL,
    tokens_in     bigint  NOT NULL,
    tokens_out    bigint  NOT NULL,
    attempts      integer NOT NULL,
    fallback      integer NOT NULL,
    error_code    text,
    replay_of     text,
    view_json     text    NOT NULL
);
CREATE INDEX traces_workspace_idx ON traces (workspace, position);
CREATE INDEX traces_time_idx ON traces (started_at_ms, position);
CREATE INDEX traces_replay_idx ON traces (replay_of);
