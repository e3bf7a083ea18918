-- The registry schema on PostgreSQL: what SQLite's migrations 1-11 leave behind, created whole.
-- Integers are BIGINT (SQLite's INTEGER is 64-bit), bytes BYTEA.
CREATE TABLE licenses (
    license_id    TEXT PRIMARY KEY,
    lineage_id    TEXT NOT NULL,
    sequence      BIGINT NOT NULL,
    renewal_of    TEXT REFERENCES licenses(license_id),
    customer_id   TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    product       TEXT NOT NULL,
    tier          TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    not_before    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    license_key   TEXT NOT NULL UNIQUE,
    key_id        TEXT NOT NULL,
    renewed_by    TEXT REFERENCES licenses(license_id),
    revoked_at    BIGINT,
    revoke_reason TEXT,
    revoke_code   TEXT,
    suspended_at  BIGINT,
    grace_days    BIGINT,
    UNIQUE (lineage_id, sequence)
);
CREATE INDEX licenses_live ON licenses(expires_at, license_id, not_before)
    WHERE revoked_at IS NULL AND renewed_by IS NULL;
CREATE INDEX licenses_live_future ON licenses(not_before)
    WHERE revoked_at IS NULL AND renewed_by IS NULL;
CREATE INDEX licenses_revoked ON licenses(expires_at, license_id) WHERE revoked_at IS NOT NULL;
CREATE INDEX licenses_renewed ON licenses(expires_at, license_id)
    WHERE renewed_by IS NOT NULL AND revoked_at IS NULL;
CREATE INDEX licenses_customer ON licenses(customer_id);
CREATE TABLE license_documents (
    license_id TEXT PRIMARY KEY REFERENCES licenses(license_id),
    document   BYTEA NOT NULL,
    signature  BYTEA NOT NULL
);
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    event     TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    row_hash  TEXT
);
CREATE INDEX audit_subject ON audit(subject, seq) WHERE row_hash IS NOT NULL;
CREATE FUNCTION airlock_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION airlock_audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION airlock_audit_append_only();
CREATE TABLE revocation_lists (
    sequence  BIGINT PRIMARY KEY,
    issued_at BIGINT NOT NULL,
    document  BYTEA NOT NULL,
    signature BYTEA NOT NULL
);
CREATE TABLE issue_requests (
    request_key TEXT PRIMARY KEY,
    license_id  TEXT NOT NULL UNIQUE REFERENCES licenses(license_id),
    params      TEXT
);
CREATE TABLE activations (
    activation_id   TEXT PRIMARY KEY,
    lineage_id      TEXT NOT NULL,
    license_id      TEXT NOT NULL REFERENCES licenses(license_id),
    fingerprint     TEXT NOT NULL,
    instance_key    TEXT NOT NULL,
    label           TEXT NOT NULL,
    epoch           BIGINT NOT NULL,
    overage         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    lease_sequence  BIGINT NOT NULL,
    lease_issued_at BIGINT NOT NULL,
    lease_not_after BIGINT NOT NULL,
    released_at     BIGINT,
    release_kind    TEXT,
    release_reason  TEXT,
    components      TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX activations_seat ON activations(lineage_id, fingerprint)
    WHERE released_at IS NULL;
CREATE INDEX activations_lease_end ON activations(lineage_id, lease_not_after)
    WHERE released_at IS NULL;
CREATE INDEX activations_license ON activations(license_id);
CREATE TABLE activation_requests (
    request_id    TEXT PRIMARY KEY,
    activation_id TEXT NOT NULL REFERENCES activations(activation_id),
    at            BIGINT NOT NULL
);
CREATE TABLE activation_lineages (
    lineage_id     TEXT PRIMARY KEY,
    epoch          BIGINT NOT NULL,
    lease_sequence BIGINT NOT NULL,
    last_reset_at  BIGINT,
    live_seats     BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE install_token_uses (
    token_id      TEXT NOT NULL,
    activation_id TEXT NOT NULL REFERENCES activations(activation_id),
    at            BIGINT NOT NULL,
    PRIMARY KEY (token_id, activation_id)
);
CREATE TABLE activation_heartbeats (
    activation_id   TEXT PRIMARY KEY REFERENCES activations(activation_id),
    at              BIGINT NOT NULL,
    product_version TEXT,
    uptime_seconds  BIGINT,
    counts          TEXT NOT NULL
);
CREATE TABLE audit_anchors (
    revocations_sequence BIGINT PRIMARY KEY,
    audit_seq            BIGINT NOT NULL,
    audit_head           TEXT NOT NULL,
    public_key           TEXT NOT NULL,
    document             TEXT NOT NULL,
    signature            TEXT NOT NULL
);
CREATE INDEX activations_fingerprint ON activations(lineage_id, fingerprint, created_at);
CREATE INDEX licenses_suspended ON licenses(license_id) WHERE suspended_at IS NOT NULL;
CREATE TABLE trust_files (
    version  BIGINT PRIMARY KEY,
    document TEXT NOT NULL,
    kept_at  BIGINT NOT NULL
);
CREATE TABLE install_tokens (
    token_id      TEXT PRIMARY KEY,
    license_id    TEXT NOT NULL,
    lineage_id    TEXT NOT NULL,
    allowance     BIGINT NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX install_tokens_license ON install_tokens(license_id);
CREATE TABLE builds (
    bundle_id         TEXT PRIMARY KEY,
    product           TEXT NOT NULL,
    version           TEXT NOT NULL,
    edition           TEXT NOT NULL,
    requires_features TEXT NOT NULL,
    customer_id       TEXT NOT NULL,
    license_id        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    key_check         TEXT NOT NULL,
    kek_key_id        TEXT NOT NULL,
    wrapped_key       TEXT NOT NULL,
    record            TEXT NOT NULL,
    registered_at     BIGINT NOT NULL
);
CREATE INDEX builds_product ON builds(product, created_at);
CREATE TABLE activation_grants (
    activation_id TEXT NOT NULL REFERENCES activations(activation_id),
    bundle_id     TEXT NOT NULL REFERENCES builds(bundle_id),
    granted_at    BIGINT NOT NULL,
    PRIMARY KEY (activation_id, bundle_id)
);
