#include "ngx/store/zone.hpp"

namespace webhook::ngx {

bool zone_ref_bind(ngx_conf_t* cf, ngx_str_t name, ZoneRef* ref) {
    if (name.len == 0) {
        ref->shm = nullptr;
        return true;
    }
    // As limit_req: the zone is added with size 0 and this module's tag;
    // webhook_zone, before or after, gives it its size and its Zone.
    ref->shm = ngx_shared_memory_add(cf, &name, 0, &ngx_http_webhook_module);
    return ref->shm != nullptr;
}

Zone* zone_resolve(ngx_conf_t* cf, const ZoneRef& ref, const char* directive) {
    if (ref.shm != nullptr) {
        if (ref.shm->data == nullptr) {
            if (directive != nullptr)
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: unknown webhook_zone \"%V\"", directive, &ref.shm->shm.name);
            return nullptr;
        }
        return static_cast<Zone*>(ref.shm->data);
    }
    auto* mcf = static_cast<ZoneMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module));
    if (mcf->zones.nelts == 1) return static_cast<Zone**>(mcf->zones.elts)[0];
    if (directive != nullptr)
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: zone=NAME is needed: the configuration has %ui webhook_zone directives",
                       directive, mcf->zones.nelts);
    return nullptr;
}

}  // namespace webhook::ngx
