// ngx_http_webhook_delivery_module: outbound webhooks (docs/delivery.md).
//   webhook_delivery    where and how attempts are made (http, server)
//   webhook_sign        how requests are signed (http)
//   webhook_event_type  the event catalog (http)
//   webhook_emit        publish an event when a proxied call succeeds (location)
// The dispatcher itself is in dispatcher.cpp, publishing in publish.cpp.

#include <memory>
#include <new>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/keys/api_keys.hpp"
#include "core/util/json.hpp"
#include "core/util/text.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/deliver/dispatcher.hpp"
#include "ngx/deliver/publish.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct SrvConf {
    DeliveryConf* delivery;   // a server-level webhook_delivery
};

struct Emit {
    std::string type;
    ZoneRef zone_ref;
    Zone* zone;
    ngx_http_complex_value_t* tenant;
    ngx_http_complex_value_t* data;
    ngx_http_complex_value_t* cond;
    ConfSite site;   // the directive
};

struct LocConf {
    std::vector<Emit>* emits;
};


// --- webhook_delivery ------------------------------------------------------------

constexpr int64_t kMinTimeoutMs = 1000, kMaxTimeoutMs = 30000;
constexpr ngx_uint_t kMaxConcurrency = 100000;
constexpr ssize_t kMaxPayloadLimit = 64 << 20;

const char* set_timeout(int64_t* out, ngx_str_t v) {
    auto ms = parse_ms(v);
    if (!ms || *ms < kMinTimeoutMs || *ms > kMaxTimeoutMs) return "must be 1s to 30s";
    *out = *ms;
    return nullptr;
}

const Param<DeliveryConf> kDeliveryParams[] = {
    {"zone", set_zone_param<DeliveryConf, &DeliveryConf::zone_ref>},
    {"location", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         if (v.len == 0 || v.data[0] != '/') return "a URI starting with /";
         dc->location = v;
         return nullptr;
     }},
    {"retries", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         auto r = parse_retries(sv(v));
         if (!r) return "e.g. 0s,1m,5m,30m,2h";
         dc->retries = *r;
         return nullptr;
     }},
    {"timeout", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) { return set_timeout(&dc->timeout_ms, v); }},
    {"concurrency", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         auto n = parse_count(v);
         if (!n || *n > kMaxConcurrency) return "a number from 1 to 100000";
         dc->concurrency = *n;
         return nullptr;
     }},
    {"per_endpoint", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         auto n = parse_count(v);
         if (!n || *n > kMaxConcurrency) return "a number from 1 to 100000";
         dc->per_endpoint = *n;
         return nullptr;
     }},
    {"allow_http", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         auto f = parse_flag(v);
         if (!f) return "on or off";
         dc->allow_http = *f;
         return nullptr;
     }},
    {"allow_private", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         auto f = parse_flag(v);
         if (!f) return "on or off";
         dc->policy.allow_private = *f;
         return nullptr;
     }},
    {"allow", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         for (std::string_view item : split(sv(v), ',')) {
             auto cidr = parse_cidr(item);
             if (!cidr) return "a comma-separated list of CIDRs, e.g. 10.0.0.0/8,fd00::/8";
             dc->policy.allow.push_back(*cidr);
         }
         return nullptr;
     }},
    {"disable_after", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         time_t secs = ngx_parse_time(&v, 1);
         if (secs == static_cast<time_t>(NGX_ERROR)) return "a time such as 5d";
         dc->disable_after_ms = static_cast<int64_t>(secs) * 1000;
         return nullptr;
     }},
    {"max_payload", [](ngx_conf_t*, DeliveryConf* dc, ngx_str_t v) -> const char* {
         ssize_t size = ngx_parse_size(&v);
         if (size <= 0 || size > kMaxPayloadLimit) return "a size up to 64m";
         dc->max_payload = size;
         return nullptr;
     }},
};

char* webhook_delivery(ngx_conf_t* cf, ngx_command_t*, void*) {
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    DeliveryConf* dc = pool_new<DeliveryConf>(cf->pool);
    if (dc == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    dc->site = conf_site(cf);
    if (char* rv = parse_params(cf, dc, kDeliveryParams); rv != NGX_CONF_OK) return rv;
    if (dc->location.len == 0) return conf_error(cf, "webhook_delivery: location=URI is required");
    if (cf->cmd_type == NGX_HTTP_SRV_CONF) {
        auto* scf = static_cast<SrvConf*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_webhook_delivery_module));
        if (scf->delivery != nullptr) return const_cast<char*>("is duplicate");
        scf->delivery = dc;
        dc->server_level = true;
        auto* cscf = static_cast<ngx_http_core_srv_conf_t*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
        dc->server_ctx = cscf->ctx;
    }
    mcf->deliveries.push_back(dc);
    return NGX_CONF_OK;
}

// --- webhook_sign standard | hmac header=NAME [prefix=] [encoding=] [event_header=]
//                                   [id_header=] [timestamp_header=] ---------------------

constexpr size_t kMaxHeaderName = 64;

const char* set_header_name(std::string* out, ngx_str_t v) {
    bool ok = v.len > 0 && v.len <= kMaxHeaderName;
    for (char c : sv(v)) ok &= (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return "a header name: letters, digits and -";
    *out = std::string(sv(v));
    return nullptr;
}

const Param<SignConf> kSignParams[] = {
    {"header", [](ngx_conf_t*, SignConf* s, ngx_str_t v) { return set_header_name(&s->header, v); }},
    {"event_header", [](ngx_conf_t*, SignConf* s, ngx_str_t v) { return set_header_name(&s->event_header, v); }},
    {"id_header", [](ngx_conf_t*, SignConf* s, ngx_str_t v) { return set_header_name(&s->id_header, v); }},
    {"timestamp_header", [](ngx_conf_t*, SignConf* s, ngx_str_t v) { return set_header_name(&s->timestamp_header, v); }},
    {"prefix",
     [](ngx_conf_t*, SignConf* s, ngx_str_t v) -> const char* {
         if (!header_safe(sv(v))) return "printable characters only";
         s->prefix = std::string(sv(v));
         return nullptr;
     },
     kEmptyValueOk},
    {"encoding", [](ngx_conf_t*, SignConf* s, ngx_str_t v) -> const char* {
         if (sv(v) == "hex") s->encoding = Encoding::hex;
         else if (sv(v) == "base64") s->encoding = Encoding::base64;
         else return "hex or base64";
         return nullptr;
     }},
};

char* webhook_sign(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* mcf = static_cast<DeliveryMainConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (mcf->sign_set) return const_cast<char*>("is duplicate");
    mcf->sign_set = true;
    std::string_view scheme = sv(value[1]);
    if (scheme == "standard") {
        if (cf->args->nelts != 2) return conf_error(cf, "webhook_sign standard takes no parameters, got \"%V\"", &value[2]);
        return NGX_CONF_OK;
    }
    if (scheme != "hmac") return conf_error(cf, "webhook_sign: unknown scheme \"%V\" (standard or hmac)", &value[1]);
    mcf->sign.standard = false;
    if (char* rv = parse_params(cf, &mcf->sign, kSignParams, 2); rv != NGX_CONF_OK) return rv;
    if (mcf->sign.header.empty()) return conf_error(cf, "webhook_sign hmac: header=NAME is required");
    return NGX_CONF_OK;
}

// --- webhook_event_type TYPE [DESCRIPTION] [timeout=T] -----------------------------------

const Param<EventType> kEventTypeParams[] = {
    {"timeout", [](ngx_conf_t*, EventType* t, ngx_str_t v) { return set_timeout(&t->timeout_ms, v); }},
};

char* webhook_event_type(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* mcf = static_cast<DeliveryMainConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    EventType t{std::string(sv(value[1])), "", 0};
    if (!valid_event_type(t.type))
        return conf_error(cf, "webhook_event_type: invalid type \"%V\" (a-z 0-9 . _ - :)", &value[1]);
    if (reserved_event_type(t.type))
        return conf_error(cf, "webhook_event_type: \"%V\": the webhook.* types are the module's own (operational events)",
                          &value[1]);
    for (auto& known : mcf->types)
        if (known.type == t.type) return conf_error(cf, "webhook_event_type: duplicate type \"%V\"", &value[1]);
    ngx_uint_t first = 2;
    // The description is the one argument that is not NAME=VALUE.
    if (cf->args->nelts > 2 && !starts_with(sv(value[2]), "timeout=")) {
        t.description = std::string(sv(value[2]));
        first = 3;
    }
    if (char* rv = parse_params(cf, &t, kEventTypeParams, first); rv != NGX_CONF_OK) return rv;
    mcf->types.push_back(std::move(t));
    return NGX_CONF_OK;
}

// --- webhook_emit TYPE [zone=] [tenant=] [data=] [if=] -----------------------------------

const Param<Emit> kEmitParams[] = {
    {"zone", set_zone_param<Emit, &Emit::zone_ref>},
    {"tenant", set_complex_param<Emit, &Emit::tenant>},
    {"data", set_complex_param<Emit, &Emit::data>},
    {"if", set_complex_param<Emit, &Emit::cond>},
};

char* webhook_emit(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* lcf = static_cast<LocConf*>(conf);
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (lcf->emits == nullptr && (lcf->emits = pool_new<std::vector<Emit>>(cf->pool)) == nullptr)
        return static_cast<char*>(NGX_CONF_ERROR);
    Emit e{std::string(sv(value[1])), {}, nullptr, nullptr, nullptr, nullptr, conf_site(cf)};
    if (!valid_event_type(e.type)) return conf_error(cf, "webhook_emit: invalid event type \"%V\"", &value[1]);
    if (reserved_event_type(e.type))
        return conf_error(cf, "webhook_emit: \"%V\": the webhook.* types are the module's own (operational events)",
                          &value[1]);
    if (char* rv = parse_params(cf, &e, kEmitParams, 2); rv != NGX_CONF_OK) return rv;
    lcf->emits->push_back(e);
    return NGX_CONF_OK;
}

// The event data: the value when it is JSON, else the value as a JSON string.
std::string emit_data(ngx_http_request_t* r, const Emit& e) {
    if (e.data == nullptr) return "null";
    ngx_str_t data = complex_value(r, e.data);
    if (json_parse(sv(data), nullptr)) return std::string(sv(data));
    std::string quoted;
    json_quote(quoted, sv(data));
    return quoted;
}

// `trace`: the request's trace context, read (and a bad header logged) by
// the first event that is published.
void emit_one(ngx_http_request_t* r, const Emit& e, std::optional<TraceContext>& trace) {
    if (e.cond != nullptr) {
        ngx_str_t c = complex_value(r, e.cond);
        if (c.len == 0 || (c.len == 1 && c.data[0] == '0')) return;
    }
    DeliveryConf* dc = e.zone->delivery;
    if (dc == nullptr) return;   // not reached: merge_loc_conf refuses a webhook_emit without one
    ngx_str_t tenant = complex_value(r, e.tenant);
    std::string_view tenant_sv = tenant.len ? sv(tenant) : std::string_view("default");
    if (tenant_sv.size() > kMaxTenant || !header_safe(tenant_sv) || !utf8_valid(tenant_sv)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "webhook_emit \"%s\": tenant= is not a valid tenant name (at most %uz bytes of UTF-8 text), "
                      "not published", e.type.c_str(), kMaxTenant);
        return;
    }
    if (e.data != nullptr && complex_value(r, e.data).len == 0 && r->request_body != nullptr &&
        r->request_body->temp_file != nullptr) {
        // $request_body is empty when the body went to a temp file: it was
        // larger than client_body_buffer_size, raised to max_payload here,
        // so the event would be too large anyway. Say so.
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "webhook_emit \"%s\": the request body is larger than max_payload, not published", e.type.c_str());
        return;
    }
    std::string data = emit_data(r, e);
    if (!trace) trace = request_trace_context(r, true);
    PublishRequest req;
    req.tenant = tenant_sv;
    req.type = e.type;
    req.data_json = data;
    req.traceparent = trace->traceparent;
    req.tracestate = trace->tracestate;
    auto result = publish(*dc, req);
    if (auto* err = std::get_if<ApiError>(&result)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "webhook_emit \"%s\": not published: %d %s: %s",
                      e.type.c_str(), err->status, err->code.c_str(), err->message.c_str());
        return;
    }
    auto& p = std::get<Published>(result);
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "webhook_emit \"%s\": %uz deliveries", e.type.c_str(),
                   p.deliveries);
    // An event nobody subscribes to left nothing in the zone: nothing to save.
    if (!p.change || p.deliveries == 0) return;
    Zone* zone = e.zone;
    log_submit(zone, nullptr, std::move(*p.change), [zone, event_id = p.event_id](ngx_http_request_t*, StateResult rc) {
        if (rc == StateResult::ok) return;
        ApiError why = refusal(rc, zone, "event");
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "webhook_emit: event %s not published: %d %s: %s",
                      event_id.c_str(), why.status, why.code.c_str(), why.message.c_str());
    });
}

// Log phase: the response is out; a 2xx publishes the configured events.
ngx_int_t emit_handler(ngx_http_request_t* r) {
    auto* lcf = static_cast<LocConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_delivery_module));
    if (lcf->emits == nullptr || r != r->main) return NGX_DECLINED;
    ngx_uint_t status = r->headers_out.status;
    if (status < 200 || status > 299) return NGX_DECLINED;
    std::optional<TraceContext> trace;
    for (const Emit& e : *lcf->emits) emit_one(r, e, trace);
    return NGX_DECLINED;
}

// --- variables ------------------------------------------------------------------

// $webhook_traceparent: in an attempt (the delivery location), the
// traceparent it sends; in any other request, the request's own
// traceparent as a publish from it keeps it (POST /events, webhook_emit),
// empty when it has none or an invalid one.
ngx_int_t traceparent_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t) {
    ngx_int_t rc = attempt_variable(r, v, static_cast<uintptr_t>(AttemptVariable::traceparent));
    if (rc != NGX_OK || !v->not_found) return rc;   // an attempt's
    TraceContext trace = request_trace_context(r, false);
    ngx_str_t value = pool_copy(r->pool, trace.traceparent);
    if (value.data == nullptr) return NGX_ERROR;
    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = trace.traceparent.empty();
    return NGX_OK;
}

ngx_http_variable_t variables[] = {
    {ngx_string("webhook_url"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::url),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_id"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::id),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_event"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::event),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_endpoint_id"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::endpoint_id),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_attempt"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::attempt),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_host"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::host),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_server_name"), nullptr, callback<attempt_variable>, static_cast<uintptr_t>(AttemptVariable::server_name),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("webhook_traceparent"), nullptr, callback<traceparent_variable>, 0, NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable,
};

ngx_int_t preconfiguration(ngx_conf_t* cf) { return add_variables(cf, variables); }

ngx_http_output_body_filter_pt next_body_filter;

ngx_int_t body_filter(ngx_http_request_t* r, ngx_chain_t* in) {
    bool handled = false;
    ngx_int_t rc = attempt_body_filter(r, in, &handled);
    return handled ? rc : next_body_filter(r, in);
}

// --- configuration plumbing --------------------------------------------------------

void* create_main_conf(ngx_conf_t* cf) { return pool_new<DeliveryMainConf>(cf->pool); }

// Each webhook_delivery serves its zone; the zone knows it (the API,
// webhook_emit and the publish path find it there).
char* init_main_conf(ngx_conf_t* cf, void* conf) {
    auto* mcf = static_cast<DeliveryMainConf*>(conf);
    for (DeliveryConf* dc : mcf->deliveries) {
        dc->zone = zone_resolve(cf, dc->zone_ref, "webhook_delivery", dc->site);
        if (dc->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
        // Two would split the zone's queue between their locations and
        // settings, while the API checks URLs against the first one's.
        if (const DeliveryConf* first = dc->zone->delivery) {
            return site_error(cf, dc->site,
                              "webhook_delivery: zone \"%V\" already has the webhook_delivery in %V:%ui: one per "
                              "zone; give this one another zone= (or remove it)", &dc->zone->name(), &first->site.file,
                              first->site.line);
        }
        dc->zone->delivery = dc;
    }
    return NGX_CONF_OK;
}

void* create_srv_conf(ngx_conf_t* cf) { return ngx_pcalloc(cf->pool, sizeof(SrvConf)); }
void* create_loc_conf(ngx_conf_t* cf) { return ngx_pcalloc(cf->pool, sizeof(LocConf)); }

char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) {
    auto* conf = static_cast<LocConf*>(child);
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (conf->emits != nullptr) {
        for (Emit& e : *conf->emits) {
            if (e.zone == nullptr && (e.zone = zone_resolve(cf, e.zone_ref, "webhook_emit", e.site)) == nullptr)
                return static_cast<char*>(NGX_CONF_ERROR);
            // Keep bodies up to max_payload in memory, where $request_body sees them.
            const DeliveryConf* dc = delivery_conf_of(cf, e.zone);
            // Published events are only ever stored for a webhook_delivery
            // to send (emit_one): without one, nothing would happen.
            if (dc == nullptr)
                return site_error(cf, e.site,
                                  "webhook_emit: zone \"%V\" has no webhook_delivery, so events would never be "
                                  "published; add \"webhook_delivery zone=%V location=URI;\" (and that location, "
                                  "with \"proxy_pass $webhook_url;\")", &e.zone->name(), &e.zone->name());
            if (clcf->client_body_buffer_size < dc->max_payload)
                clcf->client_body_buffer_size = dc->max_payload;
        }
    }
    // Find the server that has each delivery location= (the first one, for an
    // http-level webhook_delivery; its own server for a server-level one).
    auto* cscf = static_cast<ngx_http_core_srv_conf_t*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
    for (DeliveryConf* dc : mcf->deliveries) {
        if (dc->location_clcf != nullptr || clcf->named || clcf->regex != nullptr) continue;
        if (dc->server_level && dc->server_ctx != cscf->ctx) continue;
        std::string_view name = sv(clcf->name), uri = sv(dc->location);
        bool match = clcf->exact_match ? name == uri : (!name.empty() && uri.substr(0, name.size()) == name && name != "/");
        if (!match) continue;
        dc->location_clcf = clcf;
        dc->server_ctx = cscf->ctx;
        // Attempts are subrequests: the server's rewrites and the location's
        // run before proxy_pass.
        EarlyReturn early = early_return(cf);
        if (early == EarlyReturn::always || early == EarlyReturn::server)
            return site_error(cf, dc->site,
                              "webhook_delivery: %s \"return\" answers every attempt to location=%V before proxy_pass "
                              "can send it: no delivery would reach an endpoint; remove that \"return\"",
                              early == EarlyReturn::server ? "the server's" : "the location's", &dc->location);
        // A server-level guard such as if ($host !~ ...) { return 444; } is
        // about clients, but attempts pass through it too, with no client
        // Host: it may answer them all. A guard in the location itself is
        // the operator's own choice for attempts (accepted silently).
        if (server_returns(cf) == EarlyReturn::sometimes)
            site_log(NGX_LOG_WARN, cf->log, 0, dc->site,
                     "webhook_delivery: a \"return\" inside \"if\" (or after \"rewrite\" or \"break\") of the "
                     "server holding location=%V also runs for every attempt (which has no client Host) and may "
                     "answer it before proxy_pass sends it; move that \"return\" into the server's locations for "
                     "clients, or location=%V into a server of its own", &dc->location, &dc->location);
    }
    return NGX_CONF_OK;
}

// Whether any directive of the configuration uses $NAME (NGINX keeps the
// variables directives compile to in the core module's main configuration).
bool variable_used(ngx_conf_t* cf, std::string_view name) {
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* v = static_cast<ngx_http_variable_t*>(cmcf->variables.elts);
    for (ngx_uint_t i = 0; i < cmcf->variables.nelts; i++)
        if (sv(v[i].name) == name) return true;
    return false;
}

// The location= of each webhook_delivery, once all are merged: it must send
// attempts on (proxy_pass $webhook_url); it should be internal and have a
// resolver. Which content handler it has is NGINX's private matter, so
// proxy_pass is recognised by a handler being set and $webhook_url being used.
ngx_int_t check_delivery_location(ngx_conf_t* cf, const DeliveryConf* dc, bool url_used, bool server_name_used) {
    const ngx_http_core_loc_conf_t* clcf = dc->location_clcf;
    if (clcf->handler == nullptr) {
        site_error(cf, dc->site,
                   "webhook_delivery: location \"%V\", which serves location=%V, has no proxy_pass, so no attempt can "
                   "be sent; write \"proxy_pass $webhook_url;\" in it", &clcf->name, &dc->location);
        return NGX_ERROR;
    }
    if (!url_used) {
        site_error(cf, dc->site,
                   "webhook_delivery: no directive uses $webhook_url, so attempts would not go to the endpoints; write "
                   "\"proxy_pass $webhook_url;\" in location \"%V\"", &clcf->name);
        return NGX_ERROR;
    }
    if (!clcf->internal)
        site_log(NGX_LOG_WARN, cf->log, 0, dc->site,
                 "webhook_delivery: location \"%V\", which serves location=%V, is not internal: clients can request "
                 "it (they get an error, nothing is sent); add \"internal;\" to it", &clcf->name, &dc->location);
    // $webhook_url holds the checked address, not the name: without
    // proxy_ssl_name the TLS handshake has no SNI and proxy_ssl_verify checks
    // the address.
    if (!server_name_used)
        site_log(NGX_LOG_WARN, cf->log, 0, dc->site,
                 "webhook_delivery: no directive uses $webhook_server_name, so https:// endpoints get no SNI and "
                 "proxy_ssl_verify would check the address, not the name; add \"proxy_ssl_server_name on; "
                 "proxy_ssl_name $webhook_server_name;\" to location \"%V\"", &clcf->name);
    if (clcf->resolver == nullptr || clcf->resolver->connections.nelts == 0)
        site_log(NGX_LOG_WARN, cf->log, 0, dc->site,
                 "webhook_delivery: no \"resolver\" applies to location \"%V\": attempts to endpoints given by host "
                 "name will fail with no_resolver; add \"resolver ADDRESS;\" (e.g. to the http block)", &clcf->name);
    return NGX_OK;
}

ngx_int_t postconfiguration(ngx_conf_t* cf) {
    auto* mcf = static_cast<DeliveryMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_delivery_module));
    for (DeliveryConf* dc : mcf->deliveries) {
        if (dc->location_clcf == nullptr) {
            site_error(cf, dc->site,
                       "webhook_delivery: %s location for location=%V: add \"location %V { internal; proxy_pass "
                       "$webhook_url; }\"", dc->server_level ? "this server has no" : "no server has a", &dc->location,
                       &dc->location);
            return NGX_ERROR;
        }
        if (check_delivery_location(cf, dc, variable_used(cf, "webhook_url"), variable_used(cf, "webhook_server_name")) != NGX_OK)
            return NGX_ERROR;
    }
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* h = static_cast<ngx_http_handler_pt*>(ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = callback<emit_handler>;
    next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = callback<body_filter>;
    return NGX_OK;
}

ngx_int_t init_process(ngx_cycle_t* cycle) {
    DeliveryMainConf* mcf = delivery_main_conf(cycle);
    if (mcf == nullptr) return NGX_OK;
    for (DeliveryConf* dc : mcf->deliveries)
        if (dispatcher_init_process(cycle, *dc) != NGX_OK) return NGX_ERROR;
    return NGX_OK;
}

void exit_process(ngx_cycle_t* cycle) {
    DeliveryMainConf* mcf = delivery_main_conf(cycle);
    if (mcf == nullptr) return;
    for (DeliveryConf* dc : mcf->deliveries) dispatcher_exit_process(*dc);
}

ngx_command_t commands[] = {
    {ngx_string("webhook_delivery"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_CONF_1MORE, callback<webhook_delivery, conf_failed>,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("webhook_sign"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE, callback<webhook_sign, conf_failed>, NGX_HTTP_MAIN_CONF_OFFSET, 0,
     nullptr},
    {ngx_string("webhook_event_type"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE123, callback<webhook_event_type, conf_failed>,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("webhook_emit"), NGX_HTTP_LOC_CONF | NGX_CONF_1MORE, callback<webhook_emit, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0,
     nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    callback<preconfiguration>,   /* preconfiguration */
    callback<postconfiguration>,  /* postconfiguration */
    callback<create_main_conf>,   /* create main configuration */
    callback<init_main_conf, conf_failed>,     /* init main configuration */
    callback<create_srv_conf>,    /* create server configuration */
    nullptr,            /* merge server configuration */
    callback<create_loc_conf>,    /* create location configuration */
    callback<merge_loc_conf, conf_failed>,     /* merge location configuration */
};

}  // namespace


extern "C" {
ngx_module_t ngx_http_webhook_delivery_module = http_module(&module_ctx, commands, callback<init_process>, callback<exit_process>);
}
