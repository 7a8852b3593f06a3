-- 0005 (issue 14): paid orders and their refunds. `refunded` is a terminal state reachable from `failed` and
-- `held`; an order paid through Stripe Checkout keeps its PaymentIntent id (no card, no email, no name), and
-- its refund's id once Stripe made it, with the failed refund calls' count, last category and next try.
ALTER TABLE orders DROP CONSTRAINT orders_state_check;
ALTER TABLE orders ADD CONSTRAINT orders_state_check
    CHECK (state IN ('received', 'queued', 'running', 'retry_wait', 'published', 'held', 'failed', 'taken_down',
                     'refunded'));
ALTER TABLE orders
    ADD COLUMN payment_intent  text NOT NULL DEFAULT '',
    ADD COLUMN refund_id       text NOT NULL DEFAULT '',
    ADD COLUMN refund_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN refund_error    text NOT NULL DEFAULT '',
    ADD COLUMN refund_next_at  double precision NOT NULL DEFAULT 0;
-- what the automatic refund policy reads: paid orders waiting in failed or held
CREATE INDEX orders_refundable ON orders (state, state_since) WHERE state IN ('failed', 'held') AND payment_intent <> '';
-- the draft an order paid through Stripe Checkout was made from ('' for the generic signed intake's orders):
-- `POST /v1/checkout` answers 409 for a draft that is an order already (builder/jobs/checkout.py)
ALTER TABLE orders ADD COLUMN draft_id text NOT NULL DEFAULT '';
CREATE INDEX orders_draft_id ON orders (draft_id) WHERE draft_id <> '';
