-- Read model: what each finished request cost, with its whole token breakdown (uncached,
-- cached and cache-write input, output, reasoning), its intent and strategy and the route that
-- was charged. The economics routes aggregate it; `last_sequence` makes a replayed event a no-op.
CREATE TABLE economics_requests
(
    trace_id           text PRIMARY KEY,
    workspace          text    NOT NULL,
    started_at_ms      bigint  NOT NULL,
    intent             text    NOT NULL,
    strategy           text    NOT NULL,
    -- 'open' until RequestCompleted / RequestFailed, then 'completed' / 'failed'.
    status             text    NOT NULL,
    provider           text,
    model              text,
    cost_micros        bigint  NOT NULL,
    tokens_in          bigint  NOT NULL,
    tokens_out         bigint  NOT NULL,
    cached_tokens      bigint  NOT NULL,
    cache_write_tokens bigint  NOT NULL,
    reasoning_tokens   bigint  NOT NULL,
    charges            bigint  NOT NULL,
    estimated          bigint  NOT NULL,
    needs_tools        bigint  NOT NULL,
    needs_vision       bigint  NOT NULL,
    needs_json         bigint  NOT NULL,
    error_code         text,
    last_sequence      bigint  NOT NULL
);
CREATE INDEX economics_requests_workspace_idx ON economics_requests (workspace, started_at_ms);
CREATE INDEX economics_requests_time_idx ON economics_requests (started_at_ms);
