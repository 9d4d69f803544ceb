// Per-tenant bookkeeping in the zone, shared by keys and deliveries: the plan
// limits a tenant is held to (overrides of the zone's defaults) and what it
// uses of them. A tenant is a key's resource.
#pragma once

#include <string_view>
#include <vector>

#include "core/store/mutation.hpp"
#include "ngx/store/mutation_log.hpp"
#include "ngx/store/zone.hpp"

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

// Its part of a new zone (zone_init_shared): the size, and its setup in
// zeroed memory of that size.
size_t tenants_shared_size();
void tenants_init_shared(Zone* zone, void* mem);

// Under the lock: the tenant's record, created when asked (nullptr: the zone
// is full, or it does not exist).
TenantRec* tenant_locked(Zone* zone, std::string_view name, bool create);
// A record that holds nothing (no key, endpoint, pending delivery or
// override) is freed: tenant names come from requests, so records must not
// pile up.
void tenant_release(Zone* zone, TenantRec* t);

int64_t max_keys_of(const Zone* zone, const TenantRec* t);
int64_t max_webhooks_of(const Zone* zone, const TenantRec* t);
int64_t max_pending_of(const Zone* zone, const TenantRec* t);

StateResult apply_locked(Zone* zone, const store::LimitsPut& m, store::Mode mode);
// The record that restores a tenant's overrides as they are now.
store::LimitsPut limits_now(Zone* zone, std::string_view tenant);
void tenants_capture_locked(Zone* zone, std::vector<store::Mutation>& out);

}  // namespace webhook::ngx
