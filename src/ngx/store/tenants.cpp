#include "ngx/store/tenants.hpp"

#include "ngx/common/shm.hpp"

namespace webhook::ngx {

struct TenantsShared {
    ngx_rbtree_t tree;   // TenantRec by name
    ngx_rbtree_node_t sentinel;
};

size_t tenants_shared_size() { return sizeof(TenantsShared); }

void tenants_init_shared(Zone* zone, void* mem) {
    auto* t = new (mem) TenantsShared();
    ngx_rbtree_init(&t->tree, &t->sentinel, ngx_str_rbtree_insert_value);
    zone->sh->tenants = t;
}

TenantRec* tenant_locked(Zone* zone, std::string_view name, bool create) {
    ngx_rbtree_t* tree = &zone->sh->tenants->tree;
    TenantRec* t = lookup<TenantRec>(tree, name, offsetof(TenantRec, node));
    if (t != nullptr || !create) return t;
    t = shm_new_with_id<TenantRec>(zone->shpool, name);
    if (t == nullptr) return nullptr;
    ngx_queue_init(&t->key_list);
    ngx_queue_init(&t->endpoint_list);
    ngx_rbtree_insert(tree, &t->node.node);
    return t;
}

void tenant_release(Zone* zone, TenantRec* t) {
    if (t == nullptr || t->keys != 0 || t->webhooks != 0 || t->pending != 0 || t->backlog_bytes != 0 ||
        t->max_keys >= 0 || t->max_webhooks >= 0 || t->max_pending >= 0)
        return;
    ngx_rbtree_delete(&zone->sh->tenants->tree, &t->node.node);
    ngx_slab_free_locked(zone->shpool, t);
}

namespace {
int64_t effective(int64_t override_value, ngx_uint_t zone_default) {
    return override_value >= 0 ? override_value : static_cast<int64_t>(zone_default);
}
}  // namespace

int64_t max_keys_of(const Zone* zone, const TenantRec* t) { return effective(t ? t->max_keys : -1, zone->max_keys); }
int64_t max_webhooks_of(const Zone* zone, const TenantRec* t) {
    return effective(t ? t->max_webhooks : -1, zone->max_webhooks);
}
int64_t max_pending_of(const Zone* zone, const TenantRec* t) {
    return effective(t ? t->max_pending : -1, zone->max_pending);
}

StateResult apply_locked(Zone* zone, const store::LimitsPut& m, store::Mode) {
    if (m.tenant.empty()) return StateResult::invalid;
    TenantRec* t = tenant_locked(zone, m.tenant, true);
    if (t == nullptr) return StateResult::zone_full;
    if (m.max_keys) t->max_keys = *m.max_keys;
    if (m.max_webhooks) t->max_webhooks = *m.max_webhooks;
    if (m.max_pending) t->max_pending = *m.max_pending;
    tenant_release(zone, t);   // back to every default, holding nothing
    return StateResult::ok;
}

namespace {
store::LimitsPut limits_of(std::string_view tenant, const TenantRec* t) {
    store::LimitsPut m;
    m.tenant = std::string(tenant);
    m.max_keys = t ? t->max_keys : -1;
    m.max_webhooks = t ? t->max_webhooks : -1;
    m.max_pending = t ? t->max_pending : -1;
    return m;
}
}  // namespace

store::LimitsPut limits_now(Zone* zone, std::string_view tenant) {
    Lock lock(zone->shpool);
    return limits_of(tenant, tenant_locked(zone, tenant, false));
}

void tenants_capture_locked(Zone* zone, std::vector<store::Mutation>& out) {
    // Overrides only: counts are derived from the keys and endpoints.
    for_each_node(&zone->sh->tenants->tree, [&](ngx_rbtree_node_t* n) {
        auto* t = container_of<TenantRec>(n, offsetof(TenantRec, node));
        if (t->max_keys < 0 && t->max_webhooks < 0 && t->max_pending < 0) return;
        out.emplace_back(limits_of(sv(t->node.str), t));
    });
}

}  // namespace webhook::ngx
