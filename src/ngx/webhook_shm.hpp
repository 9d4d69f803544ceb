// Shared-memory helpers for the state files: the zone lock, strings in the
// slab, rbtree lookups by string, and the per-tenant record. Internal to
// webhook_state.cpp and webhook_deliveries.cpp.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "ngx/webhook_zone.hpp"

namespace webhook::ngx {

struct TenantRec {
    ngx_str_node_t node;
    int64_t max_keys = -1, max_webhooks = -1, max_pending = -1;   // -1: the zone's default
    int64_t keys = 0, webhooks = 0;
    int64_t pending = 0;          // deliveries not finished yet
    int64_t backlog_bytes = 0;    // what its live events hold in the zone
    ngx_queue_t key_list;         // KeyRec::tenant_link, oldest first
    ngx_queue_t endpoint_list;    // EndpointRec::tenant_link, oldest first
};

class Lock {
public:
    explicit Lock(Zone* z) : z_(z) { ngx_shmtx_lock(&z_->shpool->mutex); }
    ~Lock() { ngx_shmtx_unlock(&z_->shpool->mutex); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

private:
    Zone* z_;
};

inline ngx_str_t str_of(std::string_view s) { return {s.size(), (u_char*) s.data()}; }
inline std::string_view sv_of(const ngx_str_t& s) { return {(const char*) s.data, s.len}; }

inline uint32_t str_hash(std::string_view s) { return ngx_crc32_short((u_char*) s.data(), s.size()); }

template <class T>
T* lookup(ngx_rbtree_t* tree, std::string_view key, size_t node_offset) {
    ngx_str_t name = str_of(key);
    ngx_str_node_t* n = ngx_str_rbtree_lookup(tree, &name, str_hash(key));
    return n ? reinterpret_cast<T*>(reinterpret_cast<u_char*>(n) - node_offset) : nullptr;
}


// Visits every node of a tree (any order).
template <class Fn>
void for_each_node(ngx_rbtree_t* tree, Fn&& fn) {
    std::vector<ngx_rbtree_node_t*> stack;
    if (tree->root != tree->sentinel) stack.push_back(tree->root);
    while (!stack.empty()) {
        ngx_rbtree_node_t* n = stack.back();
        stack.pop_back();
        if (n->left != tree->sentinel) stack.push_back(n->left);
        if (n->right != tree->sentinel) stack.push_back(n->right);
        fn(n);
    }
}

// A copy of s in the slab (nothing for an empty string); false when full.
inline bool shm_dup(Zone* zone, std::string_view s, ngx_str_t* out) {
    out->len = s.size();
    out->data = nullptr;
    if (s.empty()) return true;
    out->data = static_cast<u_char*>(ngx_slab_alloc_locked(zone->shpool, s.size()));
    if (out->data == nullptr) return false;
    std::memcpy(out->data, s.data(), s.size());
    return true;
}

inline void shm_free(Zone* zone, ngx_str_t* s) {
    if (s->data != nullptr) ngx_slab_free_locked(zone->shpool, s->data);
    s->data = nullptr;
    s->len = 0;
}

inline TenantRec* tenant_locked(Zone* zone, std::string_view name, bool create) {
    TenantRec* t = lookup<TenantRec>(&zone->sh->tenants, name, offsetof(TenantRec, node));
    if (t != nullptr || !create) return t;
    auto* mem = static_cast<u_char*>(ngx_slab_alloc_locked(zone->shpool, sizeof(TenantRec) + name.size()));
    if (mem == nullptr) return nullptr;
    t = new (mem) TenantRec();
    ngx_queue_init(&t->key_list);
    ngx_queue_init(&t->endpoint_list);
    u_char* p = mem + sizeof(TenantRec);
    std::memcpy(p, name.data(), name.size());
    t->node.str = {name.size(), p};
    t->node.node.key = str_hash(name);
    ngx_rbtree_insert(&zone->sh->tenants, &t->node.node);
    return t;
}

// A tenant record that holds nothing (no key, subscription, event or
// override) is freed: tenant names come from requests, so records must not
// pile up.
inline void tenant_release(Zone* zone, TenantRec* t) {
    if (t == nullptr || t->keys != 0 || t->webhooks != 0 || t->pending != 0 || t->backlog_bytes != 0 ||
        t->max_keys >= 0 || t->max_webhooks >= 0 || t->max_pending >= 0)
        return;
    ngx_rbtree_delete(&zone->sh->tenants, &t->node.node);
    ngx_slab_free_locked(zone->shpool, t);
}

inline int64_t effective(int64_t override_value, ngx_uint_t zone_default) {
    return override_value >= 0 ? override_value : static_cast<int64_t>(zone_default);
}


}  // namespace webhook::ngx
