//! The named secrets' operations and schemas (`/api/admin/secrets…`, `/api/admin/master-key/rotate`),
//! kept apart from `paths.rs` and `schemas.rs`, which are long already.

use serde_json::{json, Value};

use super::dsl::{arr, boolean, dt, n, obj, op, r, s, sd, strict, uint, Op};

pub fn operations() -> Vec<Op> {
    vec![
        op("get", "/api/admin/secrets", "admin", "listSecrets", "List named secrets (metadata and fingerprints, never values)")
            .admin()
            .ok(200, "Secrets, by id.", arr(r("Secret"))),
        op("post", "/api/admin/secrets", "admin", "createSecret", "Add a named secret")
            .describe("The value is encrypted under its own data key, wrapped by the current master key, and never returned. Providers reference it with `secretRef`.")
            .admin()
            .body(r("SecretCreate"))
            .example("one", json!({"name": "openai-prod-key", "value": "sk-..."}))
            .ok(201, "Created.", r("Secret"))
            .errors(&[409]),
        op("post", "/api/admin/secrets/{id}/rotate", "admin", "rotateSecret", "Give a secret a new value")
            .describe("Every provider that references the secret uses the new value from the next request on, on every node (as each follows the event feed); requests already under way finish with the old one.")
            .admin()
            .body(r("SecretRotate"))
            .ok(200, "The secret, its version one higher.", r("Secret"))
            .errors(&[409]),
        op("delete", "/api/admin/secrets/{id}", "admin", "deleteSecret", "Delete a secret")
            .describe("Refused with 409 `CONFLICT` while a provider references it.")
            .admin()
            .ok(200, "Deleted.", r("SecretDeleted"))
            .errors(&[409]),
        op("post", "/api/admin/master-key/rotate", "admin", "rotateMasterKey", "Rotate the master key: re-wrap every data key")
            .describe("With the key file (`data_dir/master.key`), a new master key is generated at its top and every stored data key is re-wrapped by it; other nodes read the file again when they see the `MasterKeyRotated` event. With `LAYERR_MASTER_KEY`, every data key still wrapped by a key of `LAYERR_MASTER_KEY_PREVIOUS` is re-wrapped by the current one. Values and service are unaffected.")
            .admin()
            .ok(200, "What moved.", r("MasterKeyRotation")),
    ]
}

pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Secret",
            obj(&[
                ("id", s()),
                ("name", sd("The same as `id`.")),
                ("version", uint()),
                ("fingerprint", sd("12 hex digits of the value's SHA-256: shows a rotation, reveals nothing.")),
                ("masterKeyId", sd("The master key wrapping the value's data key (`mk-` and 16 hex digits).")),
                ("referencedBy", arr(sd("A provider id."))),
                ("createdAt", dt()),
                ("rotatedAt", n(dt())),
                ("updatedAt", dt()),
            ]),
        ),
        (
            "SecretCreate",
            strict(&[
                ("name", sd("2..=63 of a-z, 0-9, `-`, `_`, starting with a letter or digit; also the id.")),
                ("value", sd("Write-only: 1..=16384 bytes, not blank, no control characters.")),
            ]),
        ),
        ("SecretRotate", strict(&[("value", sd("The new value, as for `SecretCreate`."))])),
        ("SecretDeleted", obj(&[("id", s()), ("deleted", boolean())])),
        (
            "MasterKeyRotation",
            obj(&[
                ("masterKeyId", sd("The key that now wraps every data key.")),
                ("masterKeyIds", arr(sd("The keys this node holds, current first."))),
                (
                    "rotatedFrom",
                    arr(sd("The keys data keys were wrapped by before (`legacy`: rows from before envelopes).")),
                ),
                ("rewrapped", uint()),
                ("unreadable", uint()),
                ("source", super::dsl::en(&["file", "environment"])),
                ("generated", boolean()),
            ]),
        ),
    ]
}
