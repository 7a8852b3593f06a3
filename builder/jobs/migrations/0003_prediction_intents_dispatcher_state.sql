-- 0003 (issue 10): exactly-once provider charges and the dispatcher's durable state.
-- An order's remote audio job: the intent id (the create's Idempotency-Key) is written before the create is
-- sent, with a hash of the lyrics it is for (a retry with other lyrics never reuses that job's audio).
ALTER TABLE orders
    ADD COLUMN prediction_intent text NOT NULL DEFAULT '',
    ADD COLUMN prediction_lyrics text NOT NULL DEFAULT '';

-- One row per dispatcher (the workflow it dispatches): healthy or blocked with the reason, when to try next,
-- the last dispatches (for the rate limit and the "not twice for the same need" check). No private data.
CREATE TABLE dispatcher_state (
    name       text PRIMARY KEY,
    state      jsonb NOT NULL,
    updated_at double precision NOT NULL
);
