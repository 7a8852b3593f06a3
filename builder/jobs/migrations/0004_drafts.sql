-- 0004 (issue 14): order drafts awaiting payment. The private input lives only in `sealed` (the encrypted
-- envelope); a draft is deleted with it when it is paid, expires or its checkout is abandoned.
CREATE TABLE drafts (
    id         text PRIMARY KEY,
    sealed     bytea NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL
);
CREATE INDEX drafts_expires_at ON drafts (expires_at);
