-- Console users (CONTRACT §6): who may sign in, with which role, and since
-- when they may not. Names and roles only: passwords are kept as argon2id
-- hashes in a separate file beside the database (kqc.store.credentials),
-- never in this file, so they never reach the snapshot regulators receive.
CREATE TABLE users (
    user_id     BIGINT PRIMARY KEY,
    name        VARCHAR NOT NULL UNIQUE,
    full_name   VARCHAR NOT NULL,
    role        VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    disabled_at TIMESTAMPTZ
);
COMMENT ON TABLE users IS 'One row per console user (kqc users add). Roles: technician (uploads files), reviewer (confirms or dismisses findings), approver (verifies another person''s dismissal, disposes of batches), regulator (reads, changes nothing), admin (manages users). No password or password hash is kept here.';
COMMENT ON COLUMN users.user_id IS 'Number of the user (1, 2, ...), never reused; signatures name their signer by it.';
COMMENT ON COLUMN users.name IS 'The name the user signs in with and that --reviewer takes (lower case).';
COMMENT ON COLUMN users.full_name IS 'The printed name of the signer, shown on every signature (21 CFR 11.50).';
COMMENT ON COLUMN users.role IS 'technician, reviewer, approver, regulator or admin.';
COMMENT ON COLUMN users.created_at IS 'When the user was added (UTC).';
COMMENT ON COLUMN users.disabled_at IS 'When the user was disabled (UTC); a disabled user can no longer sign in or sign. NULL while enabled.';
