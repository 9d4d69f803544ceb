// ngx_http_webhook_status_module: `webhook_status [zone=NAME]` answers with
// the zone's counters and gauges in Prometheus text format (docs/directives.md#webhook_status).

#include "ngx/common/conf.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/status/counters.hpp"

using namespace webhook::ngx;

namespace {

struct StatusConf {
    ngx_flag_t enabled;
    ZoneRef zone_ref;
    Zone* zone;
    ConfSite site;   // the directive
};

ngx_int_t status_handler(ngx_http_request_t* r) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return NGX_HTTP_NOT_ALLOWED;
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    auto* conf = static_cast<StatusConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_status_module));
    QueueStats q;
    queue_stats(conf->zone, now_ms(), &q);
    return send_body(r, NGX_HTTP_OK, "text/plain; version=0.0.4", status_text(conf->zone, q));
}

const Param<StatusConf> kParams[] = {
    {"zone", set_zone_param<StatusConf, &StatusConf::zone_ref>},
};

char* webhook_status(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<StatusConf*>(c);
    if (conf->enabled != NGX_CONF_UNSET) return const_cast<char*>("is duplicate");
    conf->enabled = 1;
    conf->site = conf_site(cf);
    if (char* rv = parse_params(cf, conf, kParams); rv != NGX_CONF_OK) return rv;
    set_content_handler(cf, callback<status_handler, http_failed>);
    return NGX_CONF_OK;
}

// A location's own webhook_status only (its handler is the location's).
char* merge_loc_conf(ngx_conf_t* cf, void*, void* child) {
    auto* conf = static_cast<StatusConf*>(child);
    if (conf->enabled == 1 && conf->zone == nullptr) {
        conf->zone = zone_resolve(cf, conf->zone_ref, "webhook_status", conf->site);
        if (conf->zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

ngx_command_t commands[] = {
    {ngx_string("webhook_status"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1,
     callback<webhook_status, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    nullptr,                                  /* preconfiguration */
    nullptr,                                  /* postconfiguration */
    nullptr,                                  /* create main configuration */
    nullptr,                                  /* init main configuration */
    nullptr,                                  /* create server configuration */
    nullptr,                                  /* merge server configuration */
    callback<create_unset_loc_conf<StatusConf>>,                /* create location configuration */
    callback<merge_loc_conf, conf_failed>,    /* merge location configuration */
};

}  // namespace

extern "C" {
ngx_module_t ngx_http_webhook_status_module = http_module(&module_ctx, commands);
}
