-- 0002: the numbers the ops figures aggregate, as stored generated columns of the audit (computed once, when a
-- row is written), so `ops summary` reads plain columns through partial indexes instead of parsing every row's
-- JSON. Nothing changes for writers: the columns derive from `entry`.

ALTER TABLE audit
    ADD COLUMN queue_wait_s double precision
        GENERATED ALWAYS AS ((entry->'timings'->>'queue_wait_s')::double precision) STORED,
    ADD COLUMN end_to_end_s double precision
        GENERATED ALWAYS AS ((entry->'timings'->>'end_to_end_s')::double precision) STORED,
    ADD COLUMN provider_s double precision
        GENERATED ALWAYS AS ((entry->'timings'->>'provider_s')::double precision) STORED,
    ADD COLUMN lyrics_s double precision
        GENERATED ALWAYS AS ((entry->'timings'->>'lyrics_s')::double precision) STORED,
    ADD COLUMN audio_s double precision
        GENERATED ALWAYS AS ((entry->'timings'->>'audio_s')::double precision) STORED,
    ADD COLUMN cover_s double precision
        GENERATED ALWAYS AS ((entry->'timings'->>'cover_s')::double precision) STORED,
    ADD COLUMN lyrics_provider text GENERATED ALWAYS AS (entry->'providers'->>'lyrics') STORED,
    ADD COLUMN audio_provider text GENERATED ALWAYS AS (entry->'providers'->>'audio') STORED,
    ADD COLUMN cover_provider text GENERATED ALWAYS AS (entry->'providers'->>'cover') STORED;

-- attempts that ended (failures by reason, provider errors): the running → … transitions
CREATE INDEX audit_attempt_ends ON audit (to_state, reason) WHERE from_state = 'running';
