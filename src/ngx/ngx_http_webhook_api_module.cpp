// ngx_http_webhook_api_module: `webhook_api [zone=] [admin_key=]`, the REST
// API of keys and plan limits (and, with delivery, of webhooks and events).
//
// A request goes: route (404) → method (405) → caller (401/403) →
// Content-Type (415) → size (413) → body read → JSON (400) → the route's
// handler, which validates (400/422) and applies a mutation under the zone
// lock; the answer leaves once the mutation's journal record is on disk.

#include <cstring>
#include <new>
#include <stdexcept>

#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/keys/api_keys.hpp"
#include "ngx/webhook_api.hpp"
#include "ngx/webhook_delivery.hpp"
#include "ngx/webhook_journal.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct ApiConf {
    bool enabled;
    ngx_str_t zone_name;
    Zone* zone;
    ngx_http_complex_value_t* admin_key;
};

// Who may call a route besides the admin key: a key with webhooks:manage
// (for its own tenant), one with events:publish, or any valid key.
enum class Access { admin, manage, publish, any };

struct Route {
    const char* pattern;   // segments; "{}" matches one
    ngx_uint_t method;
    Access access;
    bool takes_body;
    Outcome (*handle)(ApiRequest&);
};

// --- routes: keys ---------------------------------------------------------------

Outcome create_key(ApiRequest& q) {
    auto parsed = parse_key_request(q.body.get(), ngx_time());
    if (auto* e = std::get_if<ApiError>(&parsed)) return Outcome::error(*e);
    auto& req = std::get<KeyRequest>(parsed);
    if (!q.caller.may_act_for(req.resource))
        return Outcome::error({403, "forbidden_resource", "the API key may not create keys for this resource"});

    NewKey k = generate_key();
    Json m(json_object());
    json_set_str(m.get(), "op", "key.put");
    json_set_str(m.get(), "id", k.id);
    json_set_str(m.get(), "hash", hex_encode(k.hash));
    json_set_str(m.get(), "display", k.display);
    json_set_str(m.get(), "resource", req.resource);
    json_set_str(m.get(), "label", req.label);
    json_object_set_new(m.get(), "scopes", json_integer(req.scopes));
    json_object_set_new(m.get(), "created_at", json_integer(ngx_time()));
    json_object_set_new(m.get(), "expires_at", json_integer(req.expires_at));

    KeyInfo info{k.id, k.display, req.resource, req.label, req.scopes, ngx_time(), req.expires_at};
    json_t* doc = key_json(info);
    json_set_str(doc, "key", k.secret);
    json_t* undo = json_object();
    json_set_str(undo, "op", "key.del");
    json_set_str(undo, "id", k.id);
    return apply_mutation(q, m.get(), true, "key", 201, doc, undo);
}

Outcome list_keys(ApiRequest& q) {
    std::string resource = q.arg("resource");
    if (!q.caller.admin) {
        if (resource.empty() && q.caller.tenant() != "*") resource = std::string(q.caller.tenant());
        if (!resource.empty() && !q.caller.may_act_for(resource))
            return Outcome::error({403, "forbidden_resource", "the API key may not list keys of this resource"});
    }
    size_t limit = 100;
    std::string l = q.arg("limit");
    if (!l.empty()) {
        ngx_int_t n = ngx_atoi((u_char*) l.data(), l.size());
        if (n < 1 || n > 1000) return Outcome::error(invalid_request("limit must be an integer from 1 to 1000"));
        limit = n;
    }
    std::string after = q.arg("after");
    size_t total = 0;
    bool cursor_found = true;
    std::vector<KeyInfo> keys = keys_list(q.zone, resource, after, limit, &total, &cursor_found);
    if (!cursor_found) return Outcome::error(invalid_request("after: no key with this id in the list"));
    json_t* list = json_array();
    for (const KeyInfo& k : keys) json_array_append_new(list, key_json(k));
    json_t* doc = json_object();
    json_object_set_new(doc, "keys", list);
    json_object_set_new(doc, "total", json_integer(total));
    return Outcome::json(200, doc);
}

// A key of another tenant answers 404: its existence is not the caller's business.
std::optional<KeyInfo> visible_key(ApiRequest& q) {
    std::optional<KeyInfo> k = key_by_id(q.zone, q.params[0]);
    if (k && !q.caller.may_act_for(k->resource)) return std::nullopt;
    return k;
}

Outcome get_key(ApiRequest& q) {
    std::optional<KeyInfo> k = visible_key(q);
    if (!k) return Outcome::error({404, "not_found", "no such key"});
    return Outcome::json(200, key_json(*k));
}

Outcome delete_key(ApiRequest& q) {
    std::optional<KeyInfo> k = visible_key(q);
    if (!k) return Outcome::error({404, "not_found", "no such key"});
    Json m(json_object());
    json_set_str(m.get(), "op", "key.del");
    json_set_str(m.get(), "id", k->id);
    return apply_mutation(q, m.get(), false, "key", 204, nullptr, key_record(q.zone, k->id));
}

// --- routes: plan limits -----------------------------------------------------------

Outcome put_limits(ApiRequest& q) {
    std::string_view tenant = q.params[0];
    if (tenant.empty() || tenant.size() > kMaxTenant || !header_safe(tenant))
        return Outcome::error(invalid_request("tenant in the path is not valid"));
    auto parsed = parse_limits_request(q.body.get());
    if (auto* e = std::get_if<ApiError>(&parsed)) return Outcome::error(*e);
    auto& req = std::get<LimitsRequest>(parsed);

    Json m(json_object());
    json_set_str(m.get(), "op", "limits.put");
    json_set_str(m.get(), "tenant", tenant);
    if (req.max_keys >= 0) json_object_set_new(m.get(), "max_keys", json_integer(req.max_keys));
    if (req.max_webhooks >= 0) json_object_set_new(m.get(), "max_webhooks", json_integer(req.max_webhooks));
    if (req.max_pending >= 0) json_object_set_new(m.get(), "max_pending", json_integer(req.max_pending));
    Outcome out = apply_mutation(q, m.get(), false, "limits", 200, nullptr, limits_record(q.zone, tenant));
    if (out.status != 200) return out;
    // The answer shows the effective limits, defaults included.
    TenantLimits l = tenant_limits(q.zone, tenant);
    json_t* doc = json_object();
    json_set_str(doc, "tenant", tenant);
    json_object_set_new(doc, "max_webhooks", json_integer(l.max_webhooks));
    json_object_set_new(doc, "max_keys", json_integer(l.max_keys));
    json_object_set_new(doc, "max_pending", json_integer(l.max_pending));
    out.body = Outcome::json(200, doc).body;
    return out;
}

const Route routes[] = {
    {"keys", NGX_HTTP_POST, Access::manage, true, create_key},
    {"keys", NGX_HTTP_GET, Access::manage, false, list_keys},
    {"keys/{}", NGX_HTTP_GET, Access::manage, false, get_key},
    {"keys/{}", NGX_HTTP_DELETE, Access::manage, false, delete_key},
    {"limits/{}", NGX_HTTP_PUT, Access::admin, true, put_limits},
    {"webhooks", NGX_HTTP_POST, Access::manage, true, create_webhook},
    {"webhooks", NGX_HTTP_GET, Access::manage, false, list_webhooks},
    {"webhooks/{}", NGX_HTTP_GET, Access::manage, false, get_webhook},
    {"webhooks/{}", NGX_HTTP_PATCH, Access::manage, true, update_webhook},
    {"webhooks/{}", NGX_HTTP_DELETE, Access::manage, false, delete_webhook},
    {"webhooks/{}/rotate-secret", NGX_HTTP_POST, Access::manage, false, rotate_webhook_secret},
    {"webhooks/{}/test", NGX_HTTP_POST, Access::manage, false, test_webhook},
    {"webhooks/{}/deliveries", NGX_HTTP_GET, Access::manage, false, list_deliveries},
    {"deliveries/{}", NGX_HTTP_GET, Access::manage, false, get_delivery},
    {"deliveries/{}/replay", NGX_HTTP_POST, Access::manage, false, replay_delivery},
    {"events", NGX_HTTP_POST, Access::publish, true, publish_events},
    {"event-types", NGX_HTTP_GET, Access::any, false, list_event_types},
};

// --- the framework -------------------------------------------------------------

bool match(const Route& route, std::string_view path, std::vector<std::string_view>* params) {
    params->clear();
    std::string_view pat = route.pattern;
    for (;;) {
        size_t ps = pat.find('/'), xs = path.find('/');
        std::string_view pseg = pat.substr(0, ps), xseg = path.substr(0, xs);
        if (pseg == "{}") {
            if (xseg.empty()) return false;
            params->push_back(xseg);
        } else if (pseg != xseg) {
            return false;
        }
        if (ps == std::string_view::npos || xs == std::string_view::npos)
            return ps == std::string_view::npos && xs == std::string_view::npos;
        pat.remove_prefix(ps + 1);
        path.remove_prefix(xs + 1);
    }
}

std::string allow_header(ngx_uint_t methods) {
    std::string out = methods & NGX_HTTP_GET ? "GET, HEAD" : "";
    const std::pair<ngx_uint_t, const char*> names[] = {{NGX_HTTP_POST, "POST"},
                                                        {NGX_HTTP_PUT, "PUT"},       {NGX_HTTP_PATCH, "PATCH"},
                                                        {NGX_HTTP_DELETE, "DELETE"}};
    for (auto& [bit, name] : names) {
        if (!(methods & bit)) continue;
        if (!out.empty()) out += ", ";
        out += name;
    }
    return out;
}

struct ApiCtx {
    ApiRequest q;
    const Route* route;
};

void ctx_cleanup(void* data) { static_cast<ApiCtx*>(data)->~ApiCtx(); }

void finish(ngx_http_request_t* r, const Outcome& out) {
    if (out.status >= 500) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "webhook_api: %d %*s", out.status, out.body.size(),
                      out.body.data());
    } else if (out.status >= 400) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "webhook_api: %d %*s", out.status, out.body.size(),
                      out.body.data());
    }
    ngx_http_finalize_request(r, send_json(r, out.status, out.body));
}

struct Pending {
    Outcome out;
    Zone* zone;
};

// The record is durable (ok) or could not be written. r is nullptr when the
// client went away meanwhile: the state is settled all the same.
void committed(ngx_http_request_t* r, void* data, bool ok) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(data));
    if (!ok) {
        // Not on disk: the change is taken back (an event's deliveries were
        // held, so nothing of it went out) and the caller may retry.
        revert_change(p->zone, p->out.undo);
        if (r != nullptr)
            finish(r, Outcome::error({503, "store_unavailable",
                                      "the change could not be saved in the state directory and was not made; retry later"}));
        return;
    }
    if (!p->out.event_id.empty()) {
        if (DeliveryConf* dc = delivery_conf_for(p->zone)) event_durable(*dc, p->out.event_id);
    }
    if (r != nullptr) finish(r, p->out);
}

void run(ngx_http_request_t* r, ApiCtx* ctx) {
    Outcome out = ctx->route->handle(ctx->q);
    if (out.record.empty()) {
        finish(r, out);
        return;
    }
    auto p = std::make_unique<Pending>(Pending{std::move(out), ctx->q.zone});
    std::string record = std::move(p->out.record);
    uint64_t seq = p->out.seq;
    journal_commit(ctx->q.zone, r, seq, std::move(record), committed, p.release());
}

// The body as text: in memory, or (a body over client_body_buffer_size) in
// the temp file, read back — bounded by the route's limit.
bool body_text(ngx_http_request_t* r, size_t limit, std::string* out) {
    if (r->request_body == nullptr) return true;
    for (ngx_chain_t* cl = r->request_body->bufs; cl; cl = cl->next) {
        ngx_buf_t* b = cl->buf;
        if (ngx_buf_in_memory(b)) {
            out->append((const char*) b->pos, b->last - b->pos);
        } else if (b->in_file) {
            size_t n = b->file_last - b->file_pos;
            if (out->size() + n > limit) return false;
            std::string chunk(n, '\0');
            if (ngx_read_file(b->file, (u_char*) chunk.data(), n, b->file_pos) != static_cast<ssize_t>(n))
                throw std::runtime_error("cannot read the request body back");
            out->append(chunk);
        }
        if (out->size() > limit) return false;
    }
    return true;
}

void body_ready(ngx_http_request_t* r) {
    auto* ctx = static_cast<ApiCtx*>(ngx_http_get_module_ctx(r, ngx_http_webhook_api_module));
    bool handled = guarded(r->connection->log, false, [&] {
        if (ctx->route->takes_body && (r->method & (NGX_HTTP_POST | NGX_HTTP_PUT | NGX_HTTP_PATCH))) {
            std::string text;
            if (!body_text(r, ctx->q.max_body, &text)) {
                finish(r, Outcome::error({413, "payload_too_large", "the body is larger than this route accepts"}));
                return true;
            }
            std::string err;
            ctx->q.body = json_parse(text, &err);
            if (!ctx->q.body) {
                finish(r, Outcome::error({400, "invalid_json", "the body is not valid JSON: " + err}));
                return true;
            }
        }
        run(r, ctx);
        return true;
    });
    if (!handled) ngx_http_finalize_request(r, send_json(r, 500, "{\"error\":{\"code\":\"internal_error\",\"message\":\"internal error\"}}"));
}

// An answer from the content handler itself: the content phase finalizes
// the request with what this returns.
ngx_int_t reject(ngx_http_request_t* r, const ApiError& e) {
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "webhook_api: %d %s", e.status, e.code.c_str());
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return send_json(r, e.status, Outcome::error(e).body);
}

// Admin key or API key; the admin key is compared as SHA-256 digests in
// constant time, so neither its bytes nor its length leak.
std::optional<ApiError> identify(ngx_http_request_t* r, ApiConf* conf, Caller* caller) {
    std::optional<std::string_view> presented = presented_key(r);
    if (!presented || presented->empty()) return ApiError{401, "missing_api_key", "an API key is required"};
    if (conf->admin_key != nullptr) {
        ngx_str_t admin;
        if (ngx_http_complex_value(r, conf->admin_key, &admin) != NGX_OK) throw std::bad_alloc();
        if (admin.len > 0 && constant_time_equal(sha256(sv(admin)), sha256(*presented))) {
            caller->admin = true;
            return std::nullopt;
        }
    }
    if (check_key(conf->zone, r, *presented, &caller->key) != KeyCheck::ok)
        return ApiError{401, "invalid_api_key", "the API key is not valid"};
    return std::nullopt;
}

ngx_int_t content_handler_impl(ngx_http_request_t* r) {
    auto* conf = static_cast<ApiConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_api_module));
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));

    std::string_view uri = sv(r->uri);
    // Routes are relative to the location's prefix, at a segment boundary:
    // `location /api` serves /api/keys, never /apikeys.
    std::string_view prefix = sv(clcf->name);
    if (uri.size() < prefix.size() || uri.substr(0, prefix.size()) != prefix) return reject(r, {404, "not_found", "no such route"});
    std::string_view path = uri.substr(prefix.size());
    if (!prefix.empty() && prefix.back() != '/' && !path.empty() && path.front() != '/')
        return reject(r, {404, "not_found", "no such route"});
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);

    const Route* route = nullptr;
    ngx_uint_t allowed_methods = 0;
    // HEAD is answered wherever GET is (NGINX sends the headers only).
    ngx_uint_t method = r->method == NGX_HTTP_HEAD ? NGX_HTTP_GET : r->method;
    std::vector<std::string_view> params, route_params;
    for (const Route& candidate : routes) {
        if (!match(candidate, path, &params)) continue;
        allowed_methods |= candidate.method;
        if (route == nullptr && (method & candidate.method)) {
            route = &candidate;
            route_params = params;
        }
    }
    if (allowed_methods == 0) return reject(r, {404, "not_found", "no such route"});
    if (route == nullptr) {
        ngx_table_elt_t* h = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
        if (h == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        std::string allow = allow_header(allowed_methods);
        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.len = allow.size();
        h->value.data = static_cast<u_char*>(ngx_pnalloc(r->pool, allow.size()));
        if (h->value.data == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_memcpy(h->value.data, allow.data(), allow.size());
        return reject(r, {405, "method_not_allowed", "this route does not take that method"});
    }
    params = std::move(route_params);

    ngx_pool_cleanup_t* cln = ngx_pool_cleanup_add(r->pool, sizeof(ApiCtx));
    if (cln == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    auto* ctx = new (cln->data) ApiCtx{};
    cln->handler = callback<ctx_cleanup>;
    ctx->route = route;
    ctx->q.r = r;
    ctx->q.zone = conf->zone;
    ctx->q.params = std::move(params);
    ngx_http_set_ctx(r, ctx, ngx_http_webhook_api_module);

    if (auto e = identify(r, conf, &ctx->q.caller)) return reject(r, *e);
    if (!ctx->q.caller.admin) {
        uint32_t scopes = ctx->q.caller.key.scopes;
        bool allowed = route->access == Access::any ||
                       (route->access == Access::manage && scopes_satisfy(scopes, kScopeWebhooksManage)) ||
                       (route->access == Access::publish && scopes_satisfy(scopes, kScopeEventsPublish));
        if (!allowed) return reject(r, {403, "insufficient_scope", "the API key lacks the scope this route needs"});
    }
    ctx->q.max_body = kMaxApiBody;
    if (route->handle == publish_events) {
        if (DeliveryConf* dc = delivery_conf_for(conf->zone)) ctx->q.max_body = dc->max_payload + 4096;
    }

    bool with_body = route->takes_body && (r->method & (NGX_HTTP_POST | NGX_HTTP_PUT | NGX_HTTP_PATCH));
    if (with_body) {
        ngx_table_elt_t* ct = r->headers_in.content_type;
        std::string_view type = ct ? sv(ct->value) : std::string_view();
        size_t semi = type.find(';');
        type = type.substr(0, semi);
        while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
        if (type.size() != 16 || ngx_strncasecmp((u_char*) type.data(), (u_char*) "application/json", 16) != 0)
            return reject(r, {415, "unsupported_media_type", "Content-Type must be application/json"});
        if (r->headers_in.content_length_n > static_cast<off_t>(ctx->q.max_body))
            return reject(r, {413, "payload_too_large", "the body is larger than this route accepts"});
    }

    ngx_int_t rc = ngx_http_read_client_request_body(r, callback<body_ready>);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) return rc;
    return NGX_DONE;
}


// --- configuration ----------------------------------------------------------------

char* webhook_api(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<ApiConf*>(c);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (conf->enabled) return const_cast<char*>("is duplicate");
    conf->enabled = true;
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ngx_str_t& v = value[i];
        if (v.len > 5 && ngx_strncmp(v.data, "zone=", 5) == 0) {
            conf->zone_name = {v.len - 5, v.data + 5};
        } else if (v.len > 10 && ngx_strncmp(v.data, "admin_key=", 10) == 0) {
            ngx_str_t text = {v.len - 10, v.data + 10};
            conf->admin_key = compile_complex(cf, text);
            if (conf->admin_key == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_api: invalid parameter \"%V\"", &v);
            return static_cast<char*>(NGX_CONF_ERROR);
        }
    }
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = callback<content_handler_impl, http_failed>;
    return NGX_CONF_OK;
}

void* create_loc_conf(ngx_conf_t* cf) { return ngx_pcalloc(cf->pool, sizeof(ApiConf)); }

char* merge_loc_conf(ngx_conf_t* cf, void*, void* child) {
    auto* conf = static_cast<ApiConf*>(child);
    if (!conf->enabled) return NGX_CONF_OK;
    auto* core = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (core->regex != nullptr || core->named) {
        // Routes are found relative to the location's prefix, which a regex
        // or named location does not have.
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "webhook_api: needs a prefix location (location /v1/ {...}), not \"%V\"",
                           &core->name);
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    conf->zone = zone_lookup(cf, conf->zone_name, "webhook_api");
    if (conf->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    // Keep API bodies in memory (core is merged before us): 64 KiB, or an
    // event of max_payload, so no body is read back from a temp file.
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    size_t want = std::max(kMaxApiBody, max_payload_for(cf, conf->zone) + 4096);
    if (clcf->client_body_buffer_size < want) clcf->client_body_buffer_size = want;
    // The routes answer 413 payload_too_large themselves (as JSON), for
    // anything up to what they accept.
    if (clcf->client_max_body_size < static_cast<off_t>(want)) clcf->client_max_body_size = want;
    return NGX_CONF_OK;
}

ngx_command_t commands[] = {
    {ngx_string("webhook_api"), NGX_HTTP_LOC_CONF | NGX_CONF_ANY, callback<webhook_api, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    nullptr,          /* preconfiguration */
    nullptr,          /* postconfiguration */
    nullptr,          /* create main configuration */
    nullptr,          /* init main configuration */
    nullptr,          /* create server configuration */
    nullptr,          /* merge server configuration */
    callback<create_loc_conf>,  /* create location configuration */
    callback<merge_loc_conf, conf_failed>,   /* merge location configuration */
};

}  // namespace

// --- shared by route files -------------------------------------------------------

std::string ApiRequest::arg(std::string_view name) const {
    ngx_str_t value;
    if (ngx_http_arg(r, (u_char*) name.data(), name.size(), &value) != NGX_OK) return {};
    std::string out(value.len, '\0');
    u_char* dst = (u_char*) out.data();
    u_char* src = value.data;
    ngx_unescape_uri(&dst, &src, value.len, NGX_UNESCAPE_URI);
    out.resize(dst - (u_char*) out.data());
    return out;
}

Outcome Outcome::error(const ApiError& e) {
    Outcome out;
    out.status = e.status;
    out.body = "{\"error\":{\"code\":";
    json_quote(out.body, e.code);
    out.body += ",\"message\":";
    json_quote(out.body, e.message);
    out.body += "}}";
    return out;
}

Outcome Outcome::json(int status, json_t* doc) {
    Json owned(doc);
    Outcome out;
    out.status = status;
    out.body = json_dump(doc);
    return out;
}

Outcome webhook::ngx::apply_mutation(ApiRequest& q, const json_t* mutation, bool enforce_limits, const char* what,
                                     int status, json_t* doc, json_t* undo) {
    Json owned(doc), owned_undo(undo);
    Outcome out;
    std::string body = doc != nullptr ? json_dump(doc) : std::string();   // encoded before the change
    if (undo != nullptr) out.undo = json_dump(undo);
    StateResult rc = state_apply(q.zone, mutation, enforce_limits, &out.seq, &out.record);
    if (rc != StateResult::ok) return state_error(rc, q.zone, what);
    out.status = status;
    out.body = std::move(body);
    return out;
}

Outcome webhook::ngx::state_error(StateResult rc, Zone* zone, const char* what) {
    switch (rc) {
    case StateResult::limit_reached:
        return Outcome::error({409, "limit_reached", std::string("the plan limit of this tenant for ") + what + "s is reached"});
    case StateResult::zone_full:
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook_zone \"%V\" is full: a %s was refused",
                      &zone->shm->shm.name, what);
        return Outcome::error({507, "zone_full", "the shared memory zone is full"});
    case StateResult::not_found:
        return Outcome::error({404, "not_found", std::string("no such ") + what});
    case StateResult::conflict:
        return Outcome::error({409, "conflict", std::string("the ") + what + " changed meanwhile; read it again and retry"});
    case StateResult::backlog_full:
        return Outcome::error({429, "backlog_full", "this tenant has too many deliveries pending (max_pending)"});
    default:
        return Outcome::error({500, "internal_error", "the change could not be applied"});
    }
}

extern "C" {
ngx_module_t ngx_http_webhook_api_module = {
    NGX_MODULE_V1,
    &module_ctx,      /* module context */
    commands,         /* module directives */
    NGX_HTTP_MODULE,  /* module type */
    nullptr,          /* init master */
    nullptr,          /* init module */
    nullptr,          /* init process */
    nullptr,          /* init thread */
    nullptr,          /* exit thread */
    nullptr,          /* exit process */
    nullptr,          /* exit master */
    NGX_MODULE_V1_PADDING,
};
}
