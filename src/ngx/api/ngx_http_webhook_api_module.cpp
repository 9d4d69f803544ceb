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

#include "core/keys/api_keys.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "ngx/api/api.hpp"
#include "ngx/api/key_routes.hpp"
#include "ngx/api/webhook_routes.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/deliver/delivery_conf.hpp"
#include "ngx/store/fleet.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct ApiConf {
    ngx_flag_t enabled;
    ZoneRef zone_ref;
    Zone* zone;
    ngx_http_complex_value_t* admin_key;
    size_t max_event_body;   // POST /events: the zone's max_payload + kEventEnvelope
    ConfSite site;           // the directive
};

// Every webhook_api of the configuration, checked together once merged.
struct ApiMainConf {
    std::vector<ApiConf*> apis;
};

// Who may call a route besides the admin key: a key with webhooks:manage
// (for its own tenant), one with events:publish, or any valid key.
enum class Access { admin, manage, publish, any };

struct Route {
    const char* pattern;   // segments; "{}" matches one
    ngx_uint_t method;
    Access access;
    size_t max_body;   // 0: takes no body; kEvents: the event limit of the zone
    Outcome (*handle)(ApiRequest&);
};

constexpr size_t kNoBody = 0;
constexpr size_t kEvents = ~static_cast<size_t>(0);

const Route routes[] = {
    {"keys", NGX_HTTP_POST, Access::manage, kMaxApiBody, create_key},
    {"keys", NGX_HTTP_GET, Access::manage, kNoBody, list_keys},
    {"keys/{}", NGX_HTTP_GET, Access::manage, kNoBody, get_key},
    {"keys/{}", NGX_HTTP_DELETE, Access::manage, kNoBody, delete_key},
    {"limits/{}", NGX_HTTP_PUT, Access::admin, kMaxApiBody, put_limits},
    {"webhooks", NGX_HTTP_POST, Access::manage, kMaxApiBody, create_webhook},
    {"webhooks", NGX_HTTP_GET, Access::manage, kNoBody, list_webhooks},
    {"webhooks/{}", NGX_HTTP_GET, Access::manage, kNoBody, get_webhook},
    {"webhooks/{}", NGX_HTTP_PATCH, Access::manage, kMaxApiBody, update_webhook},
    {"webhooks/{}", NGX_HTTP_DELETE, Access::manage, kNoBody, delete_webhook},
    {"webhooks/{}/rotate-secret", NGX_HTTP_POST, Access::manage, kNoBody, rotate_webhook_secret},
    {"webhooks/{}/test", NGX_HTTP_POST, Access::manage, kNoBody, test_webhook},
    {"webhooks/{}/deliveries", NGX_HTTP_GET, Access::manage, kNoBody, list_deliveries},
    {"webhooks/{}/recover", NGX_HTTP_POST, Access::manage, kMaxApiBody, recover_webhook},
    {"deliveries/{}", NGX_HTTP_GET, Access::manage, kNoBody, get_delivery},
    {"deliveries/{}/replay", NGX_HTTP_POST, Access::manage, kNoBody, replay_delivery},
    {"events", NGX_HTTP_POST, Access::publish, kEvents, publish_events},
    {"event-types", NGX_HTTP_GET, Access::any, kNoBody, list_event_types},
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

// What a route needs besides the admin key, as a 403 says it.
std::string scope_needed(Access access) {
    switch (access) {
    case Access::admin: return "this route needs the admin key (webhook_api admin_key=)";
    case Access::manage: return "this route needs the admin key or an API key with the webhooks:manage scope";
    case Access::publish: return "this route needs the admin key or an API key with the events:publish scope";
    case Access::any: break;
    }
    return "this route needs a valid API key";
}

// A body over a route's limit: the limit, and for events what sets it.
ApiError too_large(const Route* route, size_t limit) {
    std::string what = "the body is larger than the " + std::to_string(limit) + " bytes this route accepts";
    if (route->max_body == kEvents) what += " (webhook_delivery max_payload= plus " + std::to_string(kEventEnvelope) + ")";
    return {413, "payload_too_large", what};
}

struct ApiCtx {
    ApiRequest q;
    const Route* route;
    size_t max_body;
};

void finish(ngx_http_request_t* r, const Outcome& out) {
    if (out.refused) log_refusal(r, "webhook_api", out.status, out.refused->code, out.refused->message);
    ngx_http_finalize_request(r, send_json(r, out.status, out.body));
}

void run(ngx_http_request_t* r, ApiCtx* ctx) {
    Outcome out = ctx->route->handle(ctx->q);
    if (!out.change) {
        finish(r, out);
        return;
    }
    Submission change = std::move(*out.change);
    out.change.reset();
    // The answer waits for the change to be settled; r is nullptr then when
    // the client went away meanwhile: the state is settled all the same.
    Zone* zone = ctx->q.zone;
    log_submit(zone, r, std::move(change), [zone, out = std::move(out)](ngx_http_request_t* req, StateResult rc) {
        if (req == nullptr) return;
        if (rc == StateResult::ok) finish(req, out);
        else if (out.on_refused && rc != StateResult::unavailable) finish(req, out.on_refused(rc));
        else finish(req, Outcome::error(refusal(rc, zone, out.what)));
    });
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

bool with_body(ngx_http_request_t* r, const Route* route) {
    return route->max_body != kNoBody && (r->method & (NGX_HTTP_POST | NGX_HTTP_PUT | NGX_HTTP_PATCH));
}

void body_ready(ngx_http_request_t* r) {
    auto* ctx = static_cast<ApiCtx*>(ngx_http_get_module_ctx(r, ngx_http_webhook_api_module));
    if (with_body(r, ctx->route)) {
        std::string text;
        if (!body_text(r, ctx->max_body, &text)) {
            finish(r, Outcome::error(too_large(ctx->route, ctx->max_body)));
            return;
        }
        std::string err;
        ctx->q.body = json_parse(text, &err);
        if (!ctx->q.body) {
            finish(r, Outcome::error({400, "invalid_json", "the body is not valid JSON: " + err}));
            return;
        }
    }
    run(r, ctx);
}

// An exception in a route: the request is answered all the same.
void body_failed(ngx_http_request_t* r) {
    ngx_http_finalize_request(r, send_json(r, 500, error_json("internal_error", "internal error")));
}

// An answer from the content handler itself: the content phase finalizes
// the request with what this returns.
ngx_int_t reject(ngx_http_request_t* r, const ApiError& e) {
    log_refusal(r, "webhook_api", e.status, e.code, e.message);
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return send_json(r, e.status, Outcome::error(e).body);
}

// Admin key or API key; the admin key is compared as SHA-256 digests in
// constant time, so neither its bytes nor its length leak.
std::optional<ApiError> identify(ngx_http_request_t* r, ApiConf* conf, Caller* caller) {
    std::optional<std::string_view> presented = presented_key(r);
    if (!presented || presented->empty()) return ApiError{401, "missing_api_key", std::string(kMissingKeyMessage)};
    if (conf->admin_key != nullptr) {
        ngx_str_t admin;
        if (ngx_http_complex_value(r, conf->admin_key, &admin) != NGX_OK) throw std::bad_alloc();
        if (admin.len > 0 && constant_time_equal(sha256(sv(admin)), sha256(*presented))) {
            caller->admin = true;
            return std::nullopt;
        }
    }
    if (check_key(conf->zone, r, *presented, &caller->key) != KeyCheck::ok)
        return ApiError{401, "invalid_api_key", std::string(kInvalidKeyMessage)};
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
        std::string allow = allow_header(allowed_methods);
        ngx_str_t value = pool_copy(r->pool, allow);
        if (value.data == nullptr || add_header(r, "Allow", sv(value)) == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        return reject(r, {405, "method_not_allowed", "this route takes " + allow + ", not " + std::string(sv(r->method_name))});
    }
    params = std::move(route_params);

    auto* ctx = pool_new<ApiCtx>(r->pool);
    if (ctx == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ctx->route = route;
    ctx->max_body = route->max_body == kEvents ? conf->max_event_body : route->max_body;
    ctx->q.r = r;
    ctx->q.zone = conf->zone;
    ctx->q.params = std::move(params);
    ngx_http_set_ctx(r, ctx, ngx_http_webhook_api_module);

    // A fleet node answers once it holds the store's latest state (reads
    // too: a node that lost the store would answer with old data).
    if (!fleet_ready(conf->zone))
        return reject(r, {503, "store_unavailable",
                          "this node is not in step with the store (webhook_zone store=) yet; retry later"});

    if (auto e = identify(r, conf, &ctx->q.caller)) return reject(r, *e);
    if (!ctx->q.caller.admin) {
        uint32_t scopes = ctx->q.caller.key.scopes;
        bool allowed = route->access == Access::any ||
                       (route->access == Access::manage && scopes_satisfy(scopes, kScopeWebhooksManage)) ||
                       (route->access == Access::publish && scopes_satisfy(scopes, kScopeEventsPublish));
        if (!allowed) return reject(r, {403, "insufficient_scope", scope_needed(route->access)});
    }
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "webhook_api: route \"%s\", %s caller", route->pattern,
                   ctx->q.caller.admin ? "admin" : "key");
    if (with_body(r, route)) {
        ngx_table_elt_t* ct = r->headers_in.content_type;
        std::string_view type = ct ? sv(ct->value) : std::string_view();
        size_t semi = type.find(';');
        type = type.substr(0, semi);
        while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
        if (type.size() != 16 || ngx_strncasecmp((u_char*) type.data(), (u_char*) "application/json", 16) != 0)
            return reject(r, {415, "unsupported_media_type", "Content-Type must be application/json"});
        if (r->headers_in.content_length_n > static_cast<off_t>(ctx->max_body))
            return reject(r, too_large(route, ctx->max_body));
    }

    ngx_int_t rc = ngx_http_read_client_request_body(r, callback<body_ready, body_failed>);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) return rc;
    return NGX_DONE;
}


// --- configuration ----------------------------------------------------------------

const Param<ApiConf> kParams[] = {
    {"zone", set_zone_param<ApiConf, &ApiConf::zone_ref>},
    {"admin_key", set_complex_param<ApiConf, &ApiConf::admin_key>},
};

char* webhook_api(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<ApiConf*>(c);
    if (conf->enabled != NGX_CONF_UNSET) return const_cast<char*>("is duplicate");
    conf->enabled = 1;
    conf->site = conf_site(cf);
    if (char* rv = parse_params(cf, conf, kParams); rv != NGX_CONF_OK) return rv;
    set_content_handler(cf, callback<content_handler_impl, http_failed>);
    auto* amcf = static_cast<ApiMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_api_module));
    amcf->apis.push_back(conf);
    return NGX_CONF_OK;
}

// A location's own webhook_api only (its handler is the location's).
char* merge_loc_conf(ngx_conf_t* cf, void*, void* child) {
    auto* conf = static_cast<ApiConf*>(child);
    if (conf->enabled != 1) return NGX_CONF_OK;
    auto* core = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (core->regex != nullptr || core->named) {
        // Routes are found relative to the location's prefix, which a regex
        // or named location does not have.
        return site_error(cf, conf->site, "webhook_api: needs a prefix location (location /v1/ {...}), not \"%V\"",
                          &core->name);
    }
    conf->zone = zone_resolve(cf, conf->zone_ref, "webhook_api", conf->site);
    if (conf->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    conf->zone->api_served = true;
    if (conf->admin_key != nullptr) conf->zone->api_admin_key = true;
    const DeliveryConf* dc = delivery_conf_of(cf, conf->zone);
    // Without a webhook_delivery, POST /events answers 404 no_delivery: its
    // body is bounded as any other route's.
    conf->max_event_body = dc != nullptr ? dc->max_payload + kEventEnvelope : kMaxApiBody;
    // Keep API bodies in memory (core is merged before us): 64 KiB, or an
    // event of max_payload, so no body is read back from a temp file.
    size_t want = std::max(kMaxApiBody, conf->max_event_body);
    if (core->client_body_buffer_size < want) core->client_body_buffer_size = want;
    // The routes answer 413 payload_too_large themselves (as JSON), for
    // anything up to what they accept.
    if (core->client_max_body_size < static_cast<off_t>(want)) core->client_max_body_size = want;
    return NGX_CONF_OK;
}

void* create_main_conf(ngx_conf_t* cf) { return pool_new<ApiMainConf>(cf->pool); }

// Keys are made by POST /keys, which needs the admin key or a key that
// POST /keys made: a zone whose every webhook_api lacks admin_key= never gets
// its first key, unless state= brings back keys an earlier configuration made.
// Said once per zone, at its first webhook_api.
ngx_int_t postconfiguration(ngx_conf_t* cf) {
    auto* amcf = static_cast<ApiMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_api_module));
    std::vector<const Zone*> warned;
    for (ApiConf* conf : amcf->apis) {
        Zone* zone = conf->zone;
        if (conf->admin_key != nullptr || zone == nullptr || zone->api_admin_key) continue;
        if (std::find(warned.begin(), warned.end(), zone) != warned.end()) continue;
        warned.push_back(zone);
        if (!zone->store->durable) {
            site_error(cf, conf->site,
                       "webhook_api: no webhook_api of zone \"%V\" has admin_key=, and the zone has no state=: no API "
                       "key can ever be created; add admin_key=SECRET", &zone->name());
            return NGX_ERROR;
        }
        site_log(NGX_LOG_WARN, cf->log, 0, conf->site,
                 "webhook_api: no webhook_api of zone \"%V\" has admin_key=: only keys kept in state=\"%V\" can use "
                 "it, none can be created without one; add admin_key=SECRET unless that is intended",
                 &zone->name(), &zone->state_dir);
    }
    return NGX_OK;
}

ngx_command_t commands[] = {
    {ngx_string("webhook_api"), NGX_HTTP_LOC_CONF | NGX_CONF_ANY, callback<webhook_api, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    nullptr,          /* preconfiguration */
    callback<postconfiguration>,  /* postconfiguration */
    callback<create_main_conf>,   /* create main configuration */
    nullptr,          /* init main configuration */
    nullptr,          /* create server configuration */
    nullptr,          /* merge server configuration */
    callback<create_unset_loc_conf<ApiConf>>,  /* create location configuration */
    callback<merge_loc_conf, conf_failed>,   /* merge location configuration */
};

}  // namespace

bool webhook::ngx::has_webhook_api(void** loc_conf) {
    auto* conf = static_cast<ApiConf*>(loc_conf[ngx_http_webhook_api_module.ctx_index]);
    return conf != nullptr && conf->enabled == 1;
}

extern "C" {
ngx_module_t ngx_http_webhook_api_module = http_module(&module_ctx, commands);
}
