-- Envelope encryption: each row's value is encrypted under its own data key (nonce, ciphertext);
-- the data key is wrapped by master key `key_id` (wrap_nonce, wrapped_key). Rows written before
-- have key_id NULL: the value under the master key directly, until a master-key rotation re-seals them.
ALTER TABLE secrets ADD COLUMN key_id text;
ALTER TABLE secrets ADD COLUMN wrap_nonce text;
ALTER TABLE secrets ADD COLUMN wrapped_key text;
