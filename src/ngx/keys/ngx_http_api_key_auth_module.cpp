// ngx_http_api_key_auth_module: `api_key_auth SCOPE [zone=] [resource=]`
// admits a request only with a live API key that has SCOPE for the resource,
// and exposes the key through $api_key_* variables (e.g. for limit_req).

#include <new>
#include <vector>

#include "core/keys/api_keys.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/keys/presented_key.hpp"
#include "ngx/status/counters.hpp"
#include "ngx/store/fleet.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct AuthConf {
    ngx_flag_t enabled;                  // NGX_CONF_UNSET: inherit
    uint32_t scope;
    ZoneRef zone_ref;
    Zone* zone;
    ngx_http_complex_value_t* resource;  // nullptr: any resource
    ConfSite site;                       // the directive
};

// Every api_key_auth written in the configuration (not "off"), checked
// together once merged.
struct AuthMainConf {
    std::vector<AuthConf*> auths;
};

enum class KeyState { missing, invalid, ok };

struct AuthCtx {
    Zone* zone;          // the zone the key was looked up in
    KeyState state;
    KeyAuth key;
    ngx_str_t scopes;
};

// The presented key, looked up once per request, on first use: by the access
// handler, or earlier by a $api_key_* variable (limit_req keys on $api_key_id
// in the preaccess phase, before access runs).
// A lookup made for another location's zone (a server-level variable read
// before the location was chosen) is made again against this one's.
AuthCtx* resolve(ngx_http_request_t* r) {
    auto* conf = static_cast<AuthConf*>(ngx_http_get_module_loc_conf(r, ngx_http_api_key_auth_module));
    auto* ctx = static_cast<AuthCtx*>(ngx_http_get_module_ctx(r->main, ngx_http_api_key_auth_module));
    if (ctx != nullptr && (conf->zone == nullptr || ctx->zone == conf->zone)) return ctx;
    if (conf->zone == nullptr) return nullptr;
    ctx = static_cast<AuthCtx*>(ngx_pcalloc(r->pool, sizeof(AuthCtx)));
    if (ctx == nullptr) throw std::bad_alloc();
    ctx->zone = conf->zone;
    std::optional<std::string_view> presented = presented_key(r);
    if (!presented || presented->empty()) {
        ctx->state = KeyState::missing;
    } else if (check_key(conf->zone, r, *presented, &ctx->key) != KeyCheck::ok) {
        ctx->state = KeyState::invalid;
    } else {
        ctx->state = KeyState::ok;   // ctx->scopes: made when $api_key_scopes is read
    }
    ngx_http_set_ctx(r->main, ctx, ngx_http_api_key_auth_module);
    return ctx;
}

// Counted by its code, logged once (why, for the operator: never the key)
// and answered with what the caller can act on. reason() builds the log's
// text, called only when the error_log writes it.
template <class Reason>
ngx_int_t refuse(ngx_http_request_t* r, Zone* zone, ngx_uint_t status, KeyCheckResult result, std::string_view message,
                 Reason&& reason) {
    count_key_check(zone, result);
    if (refusal_logged(r, status)) log_refusal(r, "api_key_auth", status, key_check_code(result), reason());
    return send_error(r, status, key_check_code(result), message);
}

ngx_int_t access_handler(ngx_http_request_t* r) {
    auto* conf = static_cast<AuthConf*>(ngx_http_get_module_loc_conf(r, ngx_http_api_key_auth_module));
    if (conf->enabled != 1 || r != r->main) return NGX_DECLINED;

    // A fleet node started while its store is down has no keys yet: not
    // "invalid", but "try again" (once loaded, keys are checked from the
    // zone even while the store is down).
    if (!fleet_loaded(conf->zone))
        return refuse(r, conf->zone, NGX_HTTP_SERVICE_UNAVAILABLE, KeyCheckResult::store_unavailable,
                      "the API keys are not loaded on this node yet; retry later",
                      [] { return "the zone is not loaded from its store (webhook_zone store=) yet"; });
    AuthCtx* ctx = resolve(r);
    if (ctx->state == KeyState::missing)
        return refuse(r, conf->zone, NGX_HTTP_UNAUTHORIZED, KeyCheckResult::missing_api_key, kMissingKeyMessage,
                      [] { return "no key in Authorization: Bearer or X-API-Key"; });
    if (ctx->state == KeyState::invalid)
        return refuse(r, conf->zone, NGX_HTTP_UNAUTHORIZED, KeyCheckResult::invalid_api_key, kInvalidKeyMessage,
                      [] { return "an unknown, revoked or expired key"; });

    // The refusals' reasons are built only when refusing, and logged.
    auto key = [ctx] { return "key " + std::string(sv(ctx->key.id)); };
    if (!scopes_satisfy(ctx->key.scopes, conf->scope)) {
        std::string need = scopes_text(conf->scope);
        return refuse(r, conf->zone, NGX_HTTP_FORBIDDEN, KeyCheckResult::insufficient_scope,
                      "this needs an API key with the " + need + " scope", [&] {
                          return key() + " has scopes \"" + scopes_text(ctx->key.scopes) + "\", not " + need;
                      });
    }
    if (conf->resource != nullptr) {
        ngx_str_t want;
        if (ngx_http_complex_value(r, conf->resource, &want) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        if (!resource_allows(sv(ctx->key.resource), sv(want)))
            return refuse(r, conf->zone, NGX_HTTP_FORBIDDEN, KeyCheckResult::forbidden_resource,
                          "the API key is not valid for this resource", [&] {
                              return key() + " is for resource \"" + std::string(sv(ctx->key.resource)) +
                                     "\", not \"" + std::string(sv(want)) + "\"";
                          });
    }
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "api_key_auth: key %V admitted", &ctx->key.id);
    count_key_check(conf->zone, KeyCheckResult::ok);
    return NGX_OK;
}

ngx_int_t key_variable_failed(ngx_http_request_t*, ngx_http_variable_value_t* v, uintptr_t) noexcept {
    v->not_found = 1;
    return NGX_OK;
}

// $api_key_id, $api_key_resource, $api_key_scopes, $api_key_label
ngx_int_t key_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t offset) {
    AuthCtx* ctx = resolve(r);
    if (ctx == nullptr || ctx->state != KeyState::ok) {
        v->not_found = 1;
        return NGX_OK;
    }
    if (offset == offsetof(AuthCtx, scopes) && ctx->scopes.data == nullptr) {
        std::string text = scopes_text(ctx->key.scopes);
        ctx->scopes.data = static_cast<u_char*>(ngx_pnalloc(r->pool, text.size() + 1));
        if (ctx->scopes.data == nullptr) throw std::bad_alloc();
        ngx_memcpy(ctx->scopes.data, text.data(), text.size());
        ctx->scopes.len = text.size();
    }
    auto* s = reinterpret_cast<ngx_str_t*>(reinterpret_cast<u_char*>(ctx) + offset);
    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;   // another location's zone may answer differently
    v->not_found = 0;
    return NGX_OK;
}

ngx_http_variable_t variables[] = {
    {ngx_string("api_key_id"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, key.id), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("api_key_resource"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, key.resource), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("api_key_scopes"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, scopes), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("api_key_label"), nullptr, callback<key_variable, key_variable_failed>, offsetof(AuthCtx, key.label), NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable,
};

ngx_int_t preconfiguration(ngx_conf_t* cf) { return add_variables(cf, variables); }

const Param<AuthConf> kParams[] = {
    {"zone", set_zone_param<AuthConf, &AuthConf::zone_ref>},
    {"resource", set_complex_param<AuthConf, &AuthConf::resource>},
};

char* api_key_auth(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<AuthConf*>(c);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (conf->enabled != NGX_CONF_UNSET) return const_cast<char*>("is duplicate");

    if (sv(value[1]) == "off") {
        if (cf->args->nelts != 2) return const_cast<char*>("takes no parameters after \"off\"");
        conf->enabled = 0;
        return NGX_CONF_OK;
    }
    std::optional<uint32_t> scope = scope_from_name(sv(value[1]));
    if (!scope) {
        return conf_error(cf, "api_key_auth: unknown scope \"%V\" (read, readwrite, webhooks:manage, events:publish)",
                          &value[1]);
    }
    conf->enabled = 1;
    conf->scope = *scope;
    conf->site = conf_site(cf);
    if (char* rv = parse_params(cf, conf, kParams, 2); rv != NGX_CONF_OK) return rv;
    auto* amcf = static_cast<AuthMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_api_key_auth_module));
    amcf->auths.push_back(conf);
    return NGX_CONF_OK;
}

char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) {
    auto* prev = static_cast<AuthConf*>(parent);
    auto* conf = static_cast<AuthConf*>(child);
    // Written in this block (not inherited): a `return` here must not answer first.
    if (conf->enabled == 1 && check_early_return(cf, "api_key_auth", conf->site, "checked for an API key") != NGX_CONF_OK)
        return static_cast<char*>(NGX_CONF_ERROR);
    // The directive is inherited whole (scope, zone and resource together).
    if (conf->enabled == NGX_CONF_UNSET) {
        ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
        conf->scope = prev->scope;
        conf->zone_ref = prev->zone_ref;
        conf->zone = prev->zone;
        conf->resource = prev->resource;
        conf->site = prev->site;
    }
    if (conf->enabled == 1 && conf->zone == nullptr) {
        conf->zone = zone_resolve(cf, conf->zone_ref, "api_key_auth", conf->site);
        if (conf->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

void* create_main_conf(ngx_conf_t* cf) { return pool_new<AuthMainConf>(cf->pool); }

ngx_int_t postconfiguration(ngx_conf_t* cf) {
    // Keys are made and revoked by a webhook_api of the zone (its merge
    // marks the zone): with none, a zone holds no key, unless state= brings
    // back keys an earlier configuration made.
    auto* amcf = static_cast<AuthMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_api_key_auth_module));
    for (AuthConf* conf : amcf->auths) {
        Zone* zone = zone_resolve(cf, conf->zone_ref, "api_key_auth", conf->site);
        if (zone == nullptr) return NGX_ERROR;
        if (zone->api_served) continue;
        if (!zone->store->durable) {
            site_error(cf, conf->site,
                       "api_key_auth: no webhook_api serves zone \"%V\", which has no state=: it never holds an API key "
                       "and every request would be refused; add a location with \"webhook_api zone=%V "
                       "admin_key=SECRET;\"", &zone->name(), &zone->name());
            return NGX_ERROR;
        }
        site_log(NGX_LOG_WARN, cf->log, 0, conf->site,
                 "api_key_auth: no webhook_api serves zone \"%V\": only keys kept in state=\"%V\" are accepted, and "
                 "none can be created or revoked; add a location with \"webhook_api zone=%V admin_key=SECRET;\" unless "
                 "that is intended", &zone->name(), &zone->state_dir, &zone->name());
    }
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* h = static_cast<ngx_http_handler_pt*>(ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = callback<access_handler, http_failed>;
    return NGX_OK;
}

ngx_command_t commands[] = {
    {ngx_string("api_key_auth"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_HTTP_LMT_CONF | NGX_CONF_1MORE, callback<api_key_auth, conf_failed>,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    callback<preconfiguration>,   /* preconfiguration */
    callback<postconfiguration>,  /* postconfiguration */
    callback<create_main_conf>,   /* create main configuration */
    nullptr,            /* init main configuration */
    nullptr,            /* create server configuration */
    nullptr,            /* merge server configuration */
    callback<create_unset_loc_conf<AuthConf>>,    /* create location configuration */
    callback<merge_loc_conf, conf_failed>,     /* merge location configuration */
};

}  // namespace

extern "C" {
ngx_module_t ngx_http_api_key_auth_module = http_module(&module_ctx, commands);
}
