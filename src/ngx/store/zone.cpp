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

namespace {

// The zone, or nullptr; *zones: how many the configuration has (to say why).
Zone* find_zone(ngx_conf_t* cf, const ZoneRef& ref, ngx_uint_t* zones) {
    auto* mcf = static_cast<ZoneMainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_webhook_module));
    *zones = mcf->zones.nelts;
    if (ref.shm != nullptr) return static_cast<Zone*>(ref.shm->data);
    return mcf->zones.nelts == 1 ? static_cast<Zone**>(mcf->zones.elts)[0] : nullptr;
}

}  // namespace

Zone* zone_resolve(ngx_conf_t* cf, const ZoneRef& ref) {
    ngx_uint_t zones;
    return find_zone(cf, ref, &zones);
}

Zone* zone_resolve(ngx_conf_t* cf, const ZoneRef& ref, const char* directive, const ConfSite& site) {
    ngx_uint_t zones;
    if (Zone* zone = find_zone(cf, ref, &zones)) return zone;
    if (ref.shm != nullptr) {
        site_error(cf, site, "%s: unknown webhook_zone \"%V\": declare it with \"webhook_zone zone=%V:SIZE;\" in the "
                   "http block, or name another zone", directive, &ref.shm->shm.name, &ref.shm->shm.name);
    } else if (zones == 0) {
        site_error(cf, site, "%s: the configuration has no webhook_zone: add \"webhook_zone zone=NAME:SIZE;\" to the "
                   "http block", directive);
    } else {
        site_error(cf, site, "%s: zone=NAME is needed: the configuration has %ui webhook_zone directives", directive,
                   zones);
    }
    return nullptr;
}

}  // namespace webhook::ngx
