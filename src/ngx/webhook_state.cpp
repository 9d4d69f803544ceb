#include "ngx/webhook_state.hpp"

#include <algorithm>
#include <cstring>
#include <openssl/crypto.h>

#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "core/util/encoding.hpp"
#include "core/store/records.hpp"
#include "core/keys/api_keys.hpp"
#include "ngx/webhook_deliveries.hpp"
#include "ngx/webhook_journal.hpp"
#include "ngx/webhook_shm.hpp"

namespace webhook::ngx {

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

KeyRec* key_by_id_locked(ZoneShared* sh, std::string_view id) {
    return lookup<KeyRec>(&sh->keys_by_id, id, offsetof(KeyRec, by_id));
}

KeyRec* key_by_hash_locked(ZoneShared* sh, std::string_view hash) {
    return lookup<KeyRec>(&sh->keys_by_hash, hash, offsetof(KeyRec, by_hash));
}

KeyInfo key_info(const KeyRec* k) {
    KeyInfo info;
    info.id = std::string(sv_of(k->by_id.str));
    info.display = std::string(sv_of(k->display));
    info.resource = std::string(sv_of(k->resource));
    info.label = std::string(sv_of(k->label));
    info.scopes = k->scopes;
    info.created_at = k->created_at;
    info.expires_at = k->expires_at;
    return info;
}

StateResult key_put(Zone* zone, const json_t* m, bool enforce) {
    std::string_view id = json_str_field(m, "id"), resource = json_str_field(m, "resource"), label = json_str_field(m, "label"),
                     display = json_str_field(m, "display");
    auto hash = hex_decode(json_str_field(m, "hash"));
    if (id.empty() || resource.empty() || !hash || hash->size() != 32) return StateResult::invalid;
    ZoneShared* sh = zone->sh;
    if (key_by_id_locked(sh, id) != nullptr || key_by_hash_locked(sh, *hash) != nullptr) return StateResult::invalid;

    TenantRec* tenant = tenant_locked(zone, resource, true);
    if (tenant == nullptr) return StateResult::zone_full;
    if (enforce && tenant->keys >= effective(tenant->max_keys, zone->max_keys)) {
        // Expired keys do not count toward the plan (they refuse every
        // request already); they are counted out only at the limit.
        // Only this resource's keys are walked (at most its limit).
        int64_t live = 0, now = ngx_time();
        ngx_queue_t* head = &tenant->key_list;
        for (ngx_queue_t* q = ngx_queue_head(head); q != ngx_queue_sentinel(head); q = ngx_queue_next(q)) {
            auto* other = ngx_queue_data(q, KeyRec, tenant_link);
            if (other->expires_at == 0 || other->expires_at > now) live++;
        }
        if (live >= effective(tenant->max_keys, zone->max_keys)) {
            tenant_release(zone, tenant);
            return StateResult::limit_reached;
        }
    }

    size_t size = sizeof(KeyRec) + id.size() + resource.size() + label.size() + display.size();
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
    std::memcpy(k->hash, hash->data(), 32);
    k->by_hash.str = {32, k->hash};
    k->by_hash.node.key = str_hash(*hash);
    k->by_id.str = place(id);
    k->by_id.node.key = str_hash(id);
    k->resource = place(resource);
    k->label = place(label);
    k->display = place(display);
    k->scopes = static_cast<uint32_t>(json_int_field(m, "scopes", 0));
    k->created_at = json_int_field(m, "created_at", 0);
    k->expires_at = json_int_field(m, "expires_at", 0);
    ngx_rbtree_insert(&sh->keys_by_hash, &k->by_hash.node);
    ngx_rbtree_insert(&sh->keys_by_id, &k->by_id.node);
    ngx_queue_insert_tail(&sh->keys, &k->queue);
    ngx_queue_insert_tail(&tenant->key_list, &k->tenant_link);
    sh->key_count++;
    tenant->keys++;
    return StateResult::ok;
}

json_t* key_put_of(const KeyRec* k) {
    json_t* m = json_object();
    json_set_str(m, "op", "key.put");
    json_set_str(m, "id", sv_of(k->by_id.str));
    json_set_str(m, "hash", hex_encode({(const char*) k->hash, 32}));
    json_set_str(m, "display", sv_of(k->display));
    json_set_str(m, "resource", sv_of(k->resource));
    json_set_str(m, "label", sv_of(k->label));
    json_object_set_new(m, "scopes", json_integer(k->scopes));
    json_object_set_new(m, "created_at", json_integer(k->created_at));
    json_object_set_new(m, "expires_at", json_integer(k->expires_at));
    return m;
}

// A tenant's overrides as they are (-1: the zone's default).
json_t* limits_put_of(std::string_view tenant, const TenantRec* t) {
    json_t* m = json_object();
    json_set_str(m, "op", "limits.put");
    json_set_str(m, "tenant", tenant);
    json_object_set_new(m, "max_keys", json_integer(t ? t->max_keys : -1));
    json_object_set_new(m, "max_webhooks", json_integer(t ? t->max_webhooks : -1));
    json_object_set_new(m, "max_pending", json_integer(t ? t->max_pending : -1));
    return m;
}

StateResult key_del(Zone* zone, const json_t* m) {
    KeyRec* k = key_by_id_locked(zone->sh, json_str_field(m, "id"));
    if (k == nullptr) return StateResult::not_found;
    ngx_queue_remove(&k->tenant_link);   // before its tenant record may go
    if (TenantRec* t = tenant_locked(zone, sv_of(k->resource), false)) {
        t->keys--;
        tenant_release(zone, t);
    }
    ngx_rbtree_delete(&zone->sh->keys_by_hash, &k->by_hash.node);
    ngx_rbtree_delete(&zone->sh->keys_by_id, &k->by_id.node);
    ngx_queue_remove(&k->queue);
    zone->sh->key_count--;
    ngx_slab_free_locked(zone->shpool, k);
    return StateResult::ok;
}

StateResult limits_put(Zone* zone, const json_t* m) {
    std::string_view name = json_str_field(m, "tenant");
    if (name.empty()) return StateResult::invalid;
    TenantRec* t = tenant_locked(zone, name, true);
    if (t == nullptr) return StateResult::zone_full;
    int64_t keys = json_int_field(m, "max_keys", -2), webhooks = json_int_field(m, "max_webhooks", -2),
            pending = json_int_field(m, "max_pending", -2);
    if (keys != -2) t->max_keys = keys;
    if (webhooks != -2) t->max_webhooks = webhooks;
    if (pending != -2) t->max_pending = pending;
    tenant_release(zone, t);   // back to every default, holding nothing
    return StateResult::ok;
}

}  // namespace

namespace {
bool replaying = false;
}

bool state_replaying() { return replaying; }
void state_set_replaying(bool on) { replaying = on; }

void state_init_shared(ZoneShared* sh) {
    ngx_rbtree_init(&sh->keys_by_hash, &sh->keys_by_hash_sentinel, ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->keys_by_id, &sh->keys_by_id_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->keys);
    ngx_rbtree_init(&sh->tenants, &sh->tenants_sentinel, ngx_str_rbtree_insert_value);
    deliveries_init_shared(sh);
}

StateResult state_apply(Zone* zone, const json_t* m, bool enforce_limits, uint64_t* seq, std::string* record) {
    std::string_view op = json_str_field(m, "op");
    if (record != nullptr) *record = json_dump(m);   // may throw: nothing has changed yet
    Lock lock(zone);
    StateResult rc = StateResult::invalid;
    if (op == "key.put") rc = key_put(zone, m, enforce_limits);
    else if (op == "key.del") rc = key_del(zone, m);
    else if (op == "limits.put") rc = limits_put(zone, m);
    else rc = deliveries_apply_locked(zone, op, m, enforce_limits);
    if (rc == StateResult::ok && seq != nullptr) *seq = ++zone->sh->seq;
    return rc;
}

void revert_change(Zone* zone, std::string_view undo) {
    if (undo.empty()) return;
    Json m = json_parse(undo, nullptr);
    uint64_t seq = 0;
    std::string record;
    if (!m || state_apply(zone, m.get(), false, &seq, &record) != StateResult::ok) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0, "webhook_zone \"%V\": a change that was not saved could not be "
                      "reverted", &zone->shm->shm.name);
        return;
    }
    journal_commit(zone, nullptr, seq, std::move(record), nullptr, nullptr);
}

json_t* key_record(Zone* zone, std::string_view id) {
    Lock lock(zone);
    KeyRec* k = key_by_id_locked(zone->sh, id);
    return k ? key_put_of(k) : nullptr;
}

json_t* limits_record(Zone* zone, std::string_view tenant) {
    Lock lock(zone);
    return limits_put_of(tenant, tenant_locked(zone, tenant, false));
}

json_t* key_json(const KeyInfo& k) {
    json_t* o = json_object();
    json_set_str(o, "id", k.id);
    json_set_str(o, "prefix", k.display);
    json_set_str(o, "resource", k.resource);
    json_object_set_new(o, "scopes", scopes_json(k.scopes));
    if (k.label.empty()) json_object_set_new(o, "label", json_null());
    else json_set_str(o, "label", k.label);
    json_set_str(o, "created_at", format_rfc3339(k.created_at));
    if (k.expires_at) json_set_str(o, "expires_at", format_rfc3339(k.expires_at));
    else json_object_set_new(o, "expires_at", json_null());
    return o;
}

std::optional<KeyInfo> key_by_id(Zone* zone, std::string_view id) {
    Lock lock(zone);
    KeyRec* k = key_by_id_locked(zone->sh, id);
    if (k == nullptr) return std::nullopt;
    return key_info(k);
}

std::vector<KeyInfo> keys_list(Zone* zone, std::string_view resource, std::string_view after, size_t limit,
                               size_t* total, bool* cursor_found) {
    std::vector<KeyInfo> out;
    Lock lock(zone);
    ZoneShared* sh = zone->sh;
    ngx_queue_t* head = &sh->keys;
    size_t link = offsetof(KeyRec, queue);
    *total = sh->key_count;
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
        KeyRec* k = key_by_id_locked(sh, after);
        *cursor_found = k != nullptr && (resource.empty() || sv_of(k->resource) == resource);
        if (!*cursor_found) return out;
        q = ngx_queue_next(reinterpret_cast<ngx_queue_t*>(reinterpret_cast<u_char*>(k) + link));
    } else {
        *cursor_found = true;
    }
    for (; q != ngx_queue_sentinel(head) && out.size() < limit; q = ngx_queue_next(q))
        out.push_back(key_info(reinterpret_cast<KeyRec*>(reinterpret_cast<u_char*>(q) - link)));
    return out;
}

bool key_by_hash(Zone* zone, const std::string& hash, ngx_pool_t* pool, KeyAuth* out) {
    Lock lock(zone);
    KeyRec* k = key_by_hash_locked(zone->sh, hash);
    if (k == nullptr || CRYPTO_memcmp(k->hash, hash.data(), 32) != 0) return false;
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

TenantLimits tenant_limits(Zone* zone, std::string_view name) {
    Lock lock(zone);
    TenantRec* t = tenant_locked(zone, name, false);
    TenantLimits l{};
    l.max_keys = effective(t ? t->max_keys : -1, zone->max_keys);
    l.max_webhooks = effective(t ? t->max_webhooks : -1, zone->max_webhooks);
    l.max_pending = effective(t ? t->max_pending : -1, zone->max_pending);
    l.keys = t ? t->keys : 0;
    l.webhooks = t ? t->webhooks : 0;
    l.pending = t ? t->pending : 0;
    return l;
}

StateRecords state_capture(Zone* zone) {
    StateRecords state;
    auto add = [&state](json_t* m) { state.records.emplace_back(m); };
    Lock lock(zone);
    ZoneShared* sh = zone->sh;
    state.seq = sh->seq;
    json_t* head = json_object();
    json_set_str(head, "op", "snapshot");
    add(head);

    ngx_queue_t* keys = &sh->keys;
    for (ngx_queue_t* q = ngx_queue_head(keys); q != ngx_queue_sentinel(keys); q = ngx_queue_next(q))
        add(key_put_of(ngx_queue_data(q, KeyRec, queue)));
    // Tenants with overrides (counts are derived, not stored).
    for_each_node(&sh->tenants, [&](ngx_rbtree_node_t* n) {
        auto* t = reinterpret_cast<TenantRec*>(reinterpret_cast<u_char*>(n) - offsetof(TenantRec, node));
        if (t->max_keys < 0 && t->max_webhooks < 0 && t->max_pending < 0) return;
        add(limits_put_of(sv_of(t->node.str), t));
    });
    deliveries_capture_locked(zone, state.records);
    return state;
}

std::string state_encode(const StateRecords& state) {
    std::string out;
    for (const Json& m : state.records) out += journal_encode(state.seq, json_dump(m.get()));
    return out;
}

}  // namespace webhook::ngx
