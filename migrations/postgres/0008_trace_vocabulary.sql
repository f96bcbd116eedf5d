-- Trace events got a typed vocabulary (RequestReceived 1.1, RouteDecided 1.2, AttemptSucceeded and
-- AttemptFailed 1.1: docs/EVENTS.md). Two read models are rebuilt from the events, which are read
-- through the upcaster: `traces` keeps each folded trace as JSON (`view_json`), whose decision
-- had the older shape (free-text exclusions, `[provider, model]` pairs), and `provider_outcomes`
-- no longer counts attempts that say nothing about a provider's health (rate limited, bad
-- request, cancelled by the client). Emptying a read model and its checkpoint makes its runner
-- replay the feed from the start; until it has caught up, it answers for fewer traces.
DELETE FROM traces;
DELETE FROM provider_outcomes;
DELETE FROM projection_checkpoints WHERE name IN ('traces', 'provider_outcomes');
