-- 0001: the production ledger (issue 9). Times are Unix seconds from the application's clock, as in the
-- folder ledger; no column holds private data (names, emails and the story live only in the sealed envelope).

CREATE TABLE orders (
    ref              text PRIMARY KEY CHECK (ref ~ '^ord_[A-Za-z0-9]+$'),
    state            text NOT NULL CHECK (state IN ('received', 'queued', 'running', 'retry_wait', 'published',
                                                    'held', 'failed', 'taken_down')),
    token            text NOT NULL UNIQUE,
    key_hash         text NOT NULL,  -- HMAC of the idempotency key: one order per payment, any number of intakes
    fingerprint      text NOT NULL,  -- HMAC of the canonical body: the same key with another body is a conflict
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    state_since      double precision NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,  -- the running attempt's number: the fencing token
    seq              integer NOT NULL DEFAULT 0,
    budget_from      integer NOT NULL DEFAULT 0,
    reason           text NOT NULL DEFAULT '',
    lease_owner      text NOT NULL DEFAULT '',
    lease_until      double precision NOT NULL DEFAULT 0,
    next_attempt_at  double precision NOT NULL DEFAULT 0,
    queued_at        double precision NOT NULL DEFAULT 0,
    first_started_at double precision NOT NULL DEFAULT 0,
    published_at     double precision NOT NULL DEFAULT 0,
    url              text NOT NULL DEFAULT '',
    run_id           bigint NOT NULL DEFAULT 0,
    dispatched_at    double precision NOT NULL DEFAULT 0,
    dispatches       integer NOT NULL DEFAULT 0,
    prediction_id    text NOT NULL DEFAULT '',
    last_error       text NOT NULL DEFAULT '',
    timings          jsonb NOT NULL DEFAULT '{}',
    version          integer NOT NULL DEFAULT 1,
    CONSTRAINT orders_key_hash_unique UNIQUE (key_hash)
);

-- due work, oldest first: what a claim (FOR UPDATE SKIP LOCKED) and reconcile read
CREATE INDEX orders_due ON orders ((CASE state WHEN 'retry_wait' THEN next_attempt_at
                                                WHEN 'running' THEN lease_until
                                                ELSE queued_at END))
    WHERE state IN ('received', 'queued', 'retry_wait', 'running');
-- `gift list --state S`, the attention list and the counts by state
CREATE INDEX orders_state ON orders (state, state_since);

CREATE TABLE audit (
    id         bigserial PRIMARY KEY,
    ref        text NOT NULL REFERENCES orders (ref),
    t          double precision NOT NULL,
    seq        integer,
    event      text,
    from_state text,
    to_state   text,
    reason     text,
    attempt    integer,
    stage      text,
    provider   text,
    entry      jsonb NOT NULL
);
CREATE INDEX audit_ref ON audit (ref, id);
-- the ops figures aggregate transitions by their target
CREATE INDEX audit_to_state ON audit (to_state, t) WHERE to_state IS NOT NULL;

CREATE TABLE envelopes (
    ref    text PRIMARY KEY REFERENCES orders (ref),
    sealed bytea NOT NULL
);

-- dispatch outbox: written with the order, deleted in the transaction that records its dispatch
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    ref        text NOT NULL REFERENCES orders (ref),
    kind       text NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX outbox_ref ON outbox (ref);
