#include "ngx/keys/key_store.hpp"

#include <openssl/crypto.h>

#include "ngx/common/shm.hpp"
#include "ngx/store/tenants.hpp"

namespace webhook::ngx {

struct KeysShared {
    ngx_rbtree_t by_hash;    // ngx_str_node_t on the SHA-256 of the key
    ngx_rbtree_node_t by_hash_sentinel;
    ngx_rbtree_t by_id;
    ngx_rbtree_node_t by_id_sentinel;
    ngx_queue_t all;         // creation order
    ngx_uint_t count;
};

namespace {

// One allocation per key: the struct, then id, resource, label, display.
struct KeyRec {
    ngx_str_node_t by_hash;   // str: the 32-byte SHA-256
    ngx_str_node_t by_id;     // str: the id
    ngx_queue_t queue;
    ngx_queue_t tenant_link;  // in its resource's TenantRec::key_list
    uint32_t scopes;
    int64_t created_at, expires_at;
    ngx_str_t resource, label, display;
    u_char hash[32];
};

KeyRec* key_by_id_locked(KeysShared* ks, std::string_view id) {
    return lookup<KeyRec>(&ks->by_id, id, offsetof(KeyRec, by_id));
}

KeyRec* key_by_hash_locked(KeysShared* ks, std::string_view hash) {
    return lookup<KeyRec>(&ks->by_hash, hash, offsetof(KeyRec, by_hash));
}

KeyInfo key_info(const KeyRec* k) {
    KeyInfo info;
    info.id = std::string(sv(k->by_id.str));
    info.display = std::string(sv(k->display));
    info.resource = std::string(sv(k->resource));
    info.label = std::string(sv(k->label));
    info.scopes = k->scopes;
    info.created_at = k->created_at;
    info.expires_at = k->expires_at;
    return info;
}

store::KeyPut key_put_of(const KeyRec* k) {
    store::KeyPut m;
    m.id = std::string(sv(k->by_id.str));
    m.hash = std::string(reinterpret_cast<const char*>(k->hash), sizeof(k->hash));
    m.display = std::string(sv(k->display));
    m.resource = std::string(sv(k->resource));
    m.label = std::string(sv(k->label));
    m.scopes = k->scopes;
    m.created_at = k->created_at;
    m.expires_at = k->expires_at;
    return m;
}

// Keys of the resource that still work: expired keys do not count toward
// the plan (they refuse every request already). Only this resource's keys
// are walked (at most its limit).
int64_t live_keys(const TenantRec* t, int64_t now) {
    int64_t live = 0;
    for (ngx_queue_t* q = ngx_queue_head(&t->key_list); q != ngx_queue_sentinel(&t->key_list); q = ngx_queue_next(q)) {
        auto* k = ngx_queue_data(q, KeyRec, tenant_link);
        if (k->expires_at == 0 || k->expires_at > now) live++;
    }
    return live;
}

}  // namespace

size_t keys_shared_size() { return sizeof(KeysShared); }

void keys_init_shared(Zone* zone, void* mem) {
    auto* ks = new (mem) KeysShared();
    ngx_rbtree_init(&ks->by_hash, &ks->by_hash_sentinel, ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&ks->by_id, &ks->by_id_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&ks->all);
    zone->sh->keys = ks;
}

StateResult apply_locked(Zone* zone, const store::KeyPut& m, store::Mode mode) {
    KeysShared* ks = zone->sh->keys;
    if (m.id.empty() || m.resource.empty() || m.hash.size() != 32) return StateResult::invalid;
    if (key_by_id_locked(ks, m.id) != nullptr || key_by_hash_locked(ks, m.hash) != nullptr) return StateResult::invalid;

    TenantRec* tenant = tenant_locked(zone, m.resource, true);
    if (tenant == nullptr) return StateResult::zone_full;
    // Plan limits hold for live changes; what the journal has was accepted.
    // Expired keys are counted out only at the limit.
    int64_t max_keys = max_keys_of(zone, tenant);
    if (mode == store::Mode::live && tenant->keys >= max_keys && live_keys(tenant, ngx_time()) >= max_keys) {
        tenant_release(zone, tenant);
        return StateResult::limit_reached;
    }

    size_t size = sizeof(KeyRec) + m.id.size() + m.resource.size() + m.label.size() + m.display.size();
    auto* mem = static_cast<u_char*>(ngx_slab_alloc_locked(zone->shpool, size));
    if (mem == nullptr) {
        tenant_release(zone, tenant);
        return StateResult::zone_full;
    }
    auto* k = new (mem) KeyRec();
    u_char* p = mem + sizeof(KeyRec);
    auto place = [&p](std::string_view s) {
        ngx_str_t out = {s.size(), p};
        std::memcpy(p, s.data(), s.size());
        p += s.size();
        return out;
    };
    std::memcpy(k->hash, m.hash.data(), 32);
    k->by_hash.str = {32, k->hash};
    k->by_hash.node.key = str_hash(m.hash);
    k->by_id.str = place(m.id);
    k->by_id.node.key = str_hash(m.id);
    k->resource = place(m.resource);
    k->label = place(m.label);
    k->display = place(m.display);
    k->scopes = m.scopes;
    k->created_at = m.created_at;
    k->expires_at = m.expires_at;
    ngx_rbtree_insert(&ks->by_hash, &k->by_hash.node);
    ngx_rbtree_insert(&ks->by_id, &k->by_id.node);
    ngx_queue_insert_tail(&ks->all, &k->queue);
    ngx_queue_insert_tail(&tenant->key_list, &k->tenant_link);
    ks->count++;
    tenant->keys++;
    return StateResult::ok;
}

StateResult apply_locked(Zone* zone, const store::KeyDel& m, store::Mode) {
    KeysShared* ks = zone->sh->keys;
    KeyRec* k = key_by_id_locked(ks, m.id);
    if (k == nullptr) return StateResult::not_found;
    ngx_queue_remove(&k->tenant_link);   // before its tenant record may go
    if (TenantRec* t = tenant_locked(zone, sv(k->resource), false)) {
        t->keys--;
        tenant_release(zone, t);
    }
    ngx_rbtree_delete(&ks->by_hash, &k->by_hash.node);
    ngx_rbtree_delete(&ks->by_id, &k->by_id.node);
    ngx_queue_remove(&k->queue);
    ks->count--;
    ngx_slab_free_locked(zone->shpool, k);
    return StateResult::ok;
}

void keys_capture_locked(Zone* zone, std::vector<store::Mutation>& out) {
    for_each_in_queue<KeyRec>(&zone->sh->keys->all, offsetof(KeyRec, queue),
                              [&](KeyRec* k) { out.emplace_back(key_put_of(k)); });
}

std::optional<store::KeyPut> key_now(Zone* zone, std::string_view id) {
    Lock lock(zone->shpool);
    KeyRec* k = key_by_id_locked(zone->sh->keys, id);
    if (k == nullptr) return std::nullopt;
    return key_put_of(k);
}

ngx_uint_t key_count(Zone* zone) {
    Lock lock(zone->shpool);
    return zone->sh->keys->count;
}

std::optional<KeyInfo> key_by_id(Zone* zone, std::string_view id) {
    Lock lock(zone->shpool);
    KeyRec* k = key_by_id_locked(zone->sh->keys, id);
    if (k == nullptr) return std::nullopt;
    return key_info(k);
}

std::vector<KeyInfo> keys_list(Zone* zone, std::string_view resource, std::string_view after, size_t limit,
                               size_t* total, bool* cursor_found) {
    std::vector<KeyInfo> out;
    Lock lock(zone->shpool);
    KeysShared* ks = zone->sh->keys;
    ngx_queue_t* head = &ks->all;
    size_t link = offsetof(KeyRec, queue);
    *total = ks->count;
    if (!resource.empty()) {
        TenantRec* t = tenant_locked(zone, resource, false);
        *total = t ? static_cast<size_t>(t->keys) : 0;
        if (t == nullptr) {
            *cursor_found = after.empty();
            return out;
        }
        head = &t->key_list;
        link = offsetof(KeyRec, tenant_link);
    }
    ngx_queue_t* q = ngx_queue_head(head);
    if (!after.empty()) {
        KeyRec* k = key_by_id_locked(ks, after);
        *cursor_found = k != nullptr && (resource.empty() || sv(k->resource) == resource);
        if (!*cursor_found) return out;
        q = ngx_queue_next(reinterpret_cast<ngx_queue_t*>(reinterpret_cast<u_char*>(k) + link));
    } else {
        *cursor_found = true;
    }
    for (; q != ngx_queue_sentinel(head) && out.size() < limit; q = ngx_queue_next(q))
        out.push_back(key_info(container_of<KeyRec>(q, link)));
    return out;
}

bool key_by_hash(Zone* zone, std::string_view hash, ngx_pool_t* pool, KeyAuth* out) {
    Lock lock(zone->shpool);
    KeyRec* k = key_by_hash_locked(zone->sh->keys, hash);
    if (k == nullptr || hash.size() != sizeof(k->hash) || CRYPTO_memcmp(k->hash, hash.data(), sizeof(k->hash)) != 0)
        return false;
    auto copy = [pool](const ngx_str_t& s, ngx_str_t* d) {
        d->len = s.len;
        d->data = static_cast<u_char*>(ngx_pnalloc(pool, s.len + 1));
        if (d->data == nullptr) return false;
        ngx_memcpy(d->data, s.data, s.len);
        return true;
    };
    if (!copy(k->by_id.str, &out->id) || !copy(k->resource, &out->resource) || !copy(k->label, &out->label))
        return false;
    out->scopes = k->scopes;
    out->expires_at = k->expires_at;
    return true;
}

}  // namespace webhook::ngx
