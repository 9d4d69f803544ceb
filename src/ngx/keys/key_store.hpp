// API keys in the zone (docs/directives.md#api_key_auth): stored by the SHA-256 of the secret and by
// id, listed per resource. Changed only through the mutation log (key.put,
// key.del); read by api_key_auth and the API as copies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/store/mutation.hpp"
#include "ngx/store/mutation_log.hpp"

namespace webhook::ngx {

// Its part of a new zone (zone_init_shared): the size, and its setup in
// zeroed memory of that size.
size_t keys_shared_size();
void keys_init_shared(Zone* zone, void* mem);

StateResult apply_locked(Zone* zone, const store::KeyPut& m, store::Mode mode);
StateResult apply_locked(Zone* zone, const store::KeyDel& m, store::Mode mode);
void keys_capture_locked(Zone* zone, std::vector<store::Mutation>& out);

// The record that restores a key as it is now (nullopt: no such key).
std::optional<store::KeyPut> key_now(Zone* zone, std::string_view id);
ngx_uint_t key_count(Zone* zone);

// A key as the API shows it (never the secret, never the hash).
struct KeyInfo {
    std::string id, display, resource, label;
    uint32_t scopes = 0;
    int64_t created_at = 0, expires_at = 0;
};
std::optional<KeyInfo> key_by_id(Zone* zone, std::string_view id);

// A page of keys of one resource (all when resource is empty), oldest
// first: up to `limit` after the key `after` (empty: from the first).
// *cursor_found is false when `after` names no key of the list. The lock is
// held for the page only.
std::vector<KeyInfo> keys_list(Zone* zone, std::string_view resource, std::string_view after, size_t limit,
                               size_t* total, bool* cursor_found);

// What a request learns of its key, copied into the request pool.
struct KeyAuth {
    ngx_str_t id, resource, label;
    uint32_t scopes;
    int64_t expires_at;
};
bool key_by_hash(Zone* zone, std::string_view hash, ngx_pool_t* pool, KeyAuth* out);

}  // namespace webhook::ngx
