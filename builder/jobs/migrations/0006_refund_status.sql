-- 0006 (issue 14 review): a refunded order keeps its Stripe Refund's status as last seen. Stripe accepts a refund
-- as `succeeded`, or `pending` / `requires_action` to settle later, and may still fail or cancel it then (the money
-- goes back to the Stripe balance, not to the buyer): `gift reconcile` asks Stripe about the unsettled ones and ops
-- shows a lost one. Orders refunded before this migration keep '' (accepted; not asked about again).
ALTER TABLE orders ADD COLUMN refund_status text NOT NULL DEFAULT '';
CREATE INDEX orders_refund_unsettled ON orders (state_since)
    WHERE state = 'refunded' AND refund_status IN ('pending', 'requires_action');
