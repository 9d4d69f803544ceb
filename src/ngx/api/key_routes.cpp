// Routes of the management API for API keys and plan limits (docs/directives.md#api_key_auth, docs/api.md):
// /keys…, /limits/{tenant}.

#include "core/keys/api_keys.hpp"
#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "ngx/api/key_routes.hpp"
#include "ngx/keys/key_store.hpp"
#include "ngx/store/tenants.hpp"

namespace webhook::ngx {

namespace {

constexpr size_t kKeysPage = 100;

json_t* key_json(const KeyInfo& k) {
    json_t* o = json_object();
    json_set_str(o, "id", k.id);
    json_set_str(o, "prefix", k.display);
    json_set_str(o, "resource", k.resource);
    json_object_set_new(o, "scopes", scopes_json(k.scopes));
    json_opt_str(o, "label", k.label);
    json_set_str(o, "created_at", format_rfc3339(k.created_at));
    if (k.expires_at) json_set_str(o, "expires_at", format_rfc3339(k.expires_at));
    else json_object_set_new(o, "expires_at", json_null());
    return o;
}

// A key of another tenant answers 404: its existence is not the caller's business.
std::optional<KeyInfo> visible_key(ApiRequest& q) {
    std::optional<KeyInfo> k = key_by_id(q.zone, q.params[0]);
    if (k && !q.caller.may_act_for(k->resource)) return std::nullopt;
    return k;
}

}  // namespace

Outcome create_key(ApiRequest& q) {
    auto parsed = parse_key_request(q.body.get(), ngx_time());
    if (auto* e = std::get_if<ApiError>(&parsed)) return Outcome::error(*e);
    auto& req = std::get<KeyRequest>(parsed);
    if (!q.caller.may_act_for(req.resource))
        return Outcome::error({403, "forbidden_resource", "the API key may not create keys for this resource"});

    NewKey k = generate_key();
    store::KeyPut m{k.id, k.hash, k.display, req.resource, req.label, req.scopes, ngx_time(), req.expires_at};
    json_t* doc = key_json(KeyInfo{k.id, k.display, req.resource, req.label, req.scopes, m.created_at, req.expires_at});
    json_set_str(doc, "key", k.secret);   // shown once
    return apply_change(q, m, store::KeyDel{k.id}, "key", 201, doc);
}

Outcome list_keys(ApiRequest& q) {
    auto resource = listed_tenant(q, "resource", "keys of this resource");
    if (auto* e = std::get_if<ApiError>(&resource)) return Outcome::error(*e);
    auto page = page_of(q, kKeysPage);
    if (auto* e = std::get_if<ApiError>(&page)) return Outcome::error(*e);
    auto& p = std::get<Page>(page);
    size_t total = 0;
    bool cursor_found = true;
    std::vector<KeyInfo> keys = keys_list(q.zone, std::get<std::string>(resource), p.after, p.limit, &total, &cursor_found);
    if (!cursor_found) return Outcome::error(invalid_request("after: no key with this id in the list"));
    json_t* list = json_array();
    for (const KeyInfo& k : keys) json_array_append_new(list, key_json(k));
    json_t* doc = json_object();
    json_object_set_new(doc, "keys", list);
    json_object_set_new(doc, "total", json_integer(total));
    return Outcome::json(200, doc);
}

Outcome get_key(ApiRequest& q) {
    std::optional<KeyInfo> k = visible_key(q);
    if (!k) return Outcome::error({404, "not_found", "no such key"});
    return Outcome::json(200, key_json(*k));
}

Outcome delete_key(ApiRequest& q) {
    std::optional<KeyInfo> k = visible_key(q);
    if (!k) return Outcome::error({404, "not_found", "no such key"});
    std::optional<store::Mutation> undo;
    if (auto before = key_now(q.zone, k->id)) undo = std::move(*before);
    return apply_change(q, store::KeyDel{k->id}, std::move(undo), "key", 204, nullptr);
}

// --- routes: plan limits -----------------------------------------------------------

Outcome put_limits(ApiRequest& q) {
    std::string_view tenant = q.params[0];
    if (tenant.empty() || tenant.size() > kMaxTenant || !header_safe(tenant))
        return Outcome::error(invalid_request("tenant in the path is not valid"));
    auto parsed = parse_limits_request(q.body.get());
    if (auto* e = std::get_if<ApiError>(&parsed)) return Outcome::error(*e);
    auto& req = std::get<LimitsRequest>(parsed);

    store::LimitsPut m;
    m.tenant = std::string(tenant);
    if (req.max_keys >= 0) m.max_keys = req.max_keys;
    if (req.max_webhooks >= 0) m.max_webhooks = req.max_webhooks;
    if (req.max_pending >= 0) m.max_pending = req.max_pending;
    // The overrides as they are (one read: the answer and the undo must see
    // the same ones, and another worker may change them at any time).
    store::LimitsPut before = limits_now(q.zone, tenant);
    // The answer shows the effective limits: set here, else the override,
    // else the zone's default. Built before the change, so nothing can fail
    // once it is made.
    auto effective = [](std::optional<int64_t> set, std::optional<int64_t> now, ngx_uint_t dflt) {
        int64_t v = set.value_or(now.value_or(-1));
        return v >= 0 ? v : static_cast<int64_t>(dflt);
    };
    json_t* doc = json_object();
    json_set_str(doc, "tenant", tenant);
    json_object_set_new(doc, "max_webhooks",
                        json_integer(effective(m.max_webhooks, before.max_webhooks, q.zone->max_webhooks)));
    json_object_set_new(doc, "max_keys", json_integer(effective(m.max_keys, before.max_keys, q.zone->max_keys)));
    json_object_set_new(doc, "max_pending",
                        json_integer(effective(m.max_pending, before.max_pending, q.zone->max_pending)));
    return apply_change(q, m, std::move(before), "limits", 200, doc);
}

}  // namespace webhook::ngx
