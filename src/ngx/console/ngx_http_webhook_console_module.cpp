// ngx_http_webhook_console_module: `webhook_console [api=URI]`, the
// management console (docs/console.md): a single page whose files are
// compiled into the module (assets.cpp), served from a prefix location; in
// the browser it calls the webhook_api location at api= with the key the
// person signs in with.
//
// Every file is prepared when the configuration is read — the index with
// this location and api= filled in, an ETag per file — so a request is a
// lookup and a send from memory. The answers carry a strict
// Content-Security-Policy: the page loads nothing but its own files and
// talks only to its own origin.

#include "core/console/console_page.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/util/text.hpp"
#include "ngx/api/api.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/console/assets.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct ServedFile {
    ngx_str_t name;
    ngx_str_t content_type;
    ngx_str_t body;
    ngx_str_t etag;
};

struct ConsoleConf {
    ngx_flag_t enabled;
    ngx_str_t api;        // api= as given; empty: the server's webhook_api location
    ConfSite site;        // the directive, for the checks made when merging
    ServedFile* files;    // kConsoleFiles, prepared for this location when merged
};

// What the page may do: its own scripts, styles and API calls, data: images
// (the empty favicon); nothing inline, no framing, no forms posted anywhere,
// and no HTML parsed from strings (Trusted Types: the page builds its DOM node
// by node, so a future innerHTML fails instead of opening an XSS).
constexpr std::string_view kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'";

// The file a URI names under the console's location, or nullptr.
const ServedFile* file_for(ngx_http_request_t* r, const ConsoleConf* conf) {
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    std::string_view uri = sv(r->uri), prefix = sv(clcf->name);
    if (!starts_with(uri, prefix)) return nullptr;
    std::string_view name = uri.substr(prefix.size());
    // `location /console` serves /console, /console/ and /console/app.js,
    // never /consoleapp.js.
    if (!name.empty() && prefix.back() != '/') {
        if (name.front() != '/') return nullptr;
        name.remove_prefix(1);
    }
    for (size_t i = 0; i < kConsoleFiles; i++)
        if (sv(conf->files[i].name) == name) return &conf->files[i];
    return nullptr;
}

ngx_int_t console_handler(ngx_http_request_t* r) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        if (add_header(r, "Allow", "GET, HEAD") == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_HTTP_NOT_ALLOWED;
    }
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    auto* conf = static_cast<ConsoleConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_console_module));
    const ServedFile* file = file_for(r, conf);
    if (file == nullptr) return NGX_HTTP_NOT_FOUND;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = file->body.len;
    r->headers_out.content_type = file->content_type;
    r->headers_out.content_type_len = file->content_type.len;
    r->headers_out.content_type_lowcase = nullptr;
    // The ETag lets NGINX's not-modified filter answer a revalidation (no-cache)
    // with 304: the page is always current after a module upgrade or a
    // reload that changed api=, and costs a few bytes otherwise.
    r->headers_out.etag = add_header(r, "ETag", sv(file->etag));
    if (r->headers_out.etag == nullptr || !add_header(r, "Cache-Control", "no-cache") ||
        !add_header(r, "Content-Security-Policy", kCsp) || !add_header(r, "X-Content-Type-Options", "nosniff") ||
        !add_header(r, "Referrer-Policy", "no-referrer") || !add_header(r, "X-Frame-Options", "DENY") ||
        !add_header(r, "Cross-Origin-Opener-Policy", "same-origin"))
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) return rc;
    auto* b = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
    if (b == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    b->pos = file->body.data;
    b->last = file->body.data + file->body.len;
    b->memory = 1;   // the module's or the configuration's bytes: never written to
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    ngx_chain_t out = {b, nullptr};
    return ngx_http_output_filter(r, &out);
}

// --- configuration ----------------------------------------------------------------

// A copy in the configuration's pool (lives as long as the configuration).
bool pool_str(ngx_conf_t* cf, std::string_view s, ngx_str_t* out) {
    out->len = s.size();
    out->data = static_cast<u_char*>(ngx_pnalloc(cf->pool, s.size() ? s.size() : 1));
    if (out->data == nullptr) return false;
    ngx_memcpy(out->data, s.data(), s.size());
    return true;
}

const char* set_api(ngx_conf_t* cf, ConsoleConf* conf, ngx_str_t value) {
    if (auto why = console_uri_problem(sv(value))) {
        ngx_str_t reason;
        return pool_str(cf, *why + '\0', &reason) ? reinterpret_cast<const char*>(reason.data) : "invalid";
    }
    conf->api = value;
    return nullptr;
}

const Param<ConsoleConf> kParams[] = {
    {"api", set_api},
};

char* webhook_console(ngx_conf_t* cf, ngx_command_t*, void* c) {
    auto* conf = static_cast<ConsoleConf*>(c);
    if (conf->enabled != NGX_CONF_UNSET) return const_cast<char*>("is duplicate");
    conf->enabled = 1;
    conf->site = conf_site(cf);
    if (char* rv = parse_params(cf, conf, kParams); rv != NGX_CONF_OK) return rv;
    set_content_handler(cf, callback<console_handler, http_failed>);
    // `location /console/` answers /console with a redirect to /console/
    // (as a proxied location does), where the page's links resolve.
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->auto_redirect = 1;
    return NGX_CONF_OK;
}

// The prefixes of the webhook_api locations in `locations` (a server's or a
// location's, nested ones included).
void api_locations(ngx_queue_t* locations, std::vector<std::string_view>* found) {
    if (locations == nullptr) return;
    for (ngx_queue_t* q = ngx_queue_head(locations); q != ngx_queue_sentinel(locations); q = ngx_queue_next(q)) {
        auto* lq = reinterpret_cast<ngx_http_location_queue_t*>(q);
        ngx_http_core_loc_conf_t* clcf = lq->exact ? lq->exact : lq->inclusive;
        if (has_webhook_api(clcf->loc_conf)) found->push_back(sv(clcf->name));
        api_locations(clcf->locations, found);
    }
}

// api= when given; otherwise the one webhook_api location of this server.
std::optional<std::string> api_uri(ngx_conf_t* cf, const ConsoleConf* conf) {
    if (conf->api.len > 0) return std::string(sv(conf->api));
    auto* cscf = static_cast<ngx_http_core_srv_conf_t*>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
    auto* server = static_cast<ngx_http_core_loc_conf_t*>(cscf->ctx->loc_conf[ngx_http_core_module.ctx_index]);
    std::vector<std::string_view> found;
    api_locations(server->locations, &found);
    if (found.size() == 1) {
        if (auto why = console_uri_problem(found[0])) {
            ngx_str_t name = str_of(found[0]);
            site_error(cf, conf->site, "webhook_console: the webhook_api location \"%V\" cannot be the console's api= (%s)",
                       &name, why->c_str());
            return std::nullopt;
        }
        return std::string(found[0]);
    }
    if (found.empty()) {
        site_error(cf, conf->site, "webhook_console: no api= and no webhook_api location in this server: "
                                   "add api=URI, the prefix of the webhook_api location the console calls");
    } else {
        ngx_str_t a = str_of(found[0]), b = str_of(found[1]);
        site_error(cf, conf->site, "webhook_console: no api= and several webhook_api locations in this server "
                                   "(\"%V\", \"%V\"%s): choose one with api=URI", &a, &b, found.size() > 2 ? ", ..." : "");
    }
    return std::nullopt;
}

// The files this location serves: the index filled in with its base and
// api=, each with an ETag of its bytes.
ServedFile* prepare_files(ngx_conf_t* cf, std::string_view base, std::string_view api) {
    auto* files = static_cast<ServedFile*>(ngx_pcalloc(cf->pool, sizeof(ServedFile) * kConsoleFiles));
    if (files == nullptr) return nullptr;
    for (size_t i = 0; i < kConsoleFiles; i++) {
        const ConsoleFile& f = console_files[i];
        ServedFile& out = files[i];
        out.name = str_of(f.name);
        out.content_type = str_of(f.content_type);
        if (f.name.empty()) {
            if (!pool_str(cf, console_index(f.data, base, api), &out.body)) return nullptr;
        } else {
            out.body = str_of(f.data);
        }
        std::string etag = "\"" + hex_encode(sha256(sv(out.body))).substr(0, 20) + "\"";
        if (!pool_str(cf, etag, &out.etag)) return nullptr;
    }
    return files;
}

// A location's own webhook_console only (its handler is the location's).
char* merge_loc_conf(ngx_conf_t* cf, void*, void* child) {
    auto* conf = static_cast<ConsoleConf*>(child);
    if (conf->enabled != 1) return NGX_CONF_OK;
    auto* core = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    // The files are found relative to the location's prefix, which a regex
    // or named location does not have (and an exact one has no room for).
    if (core->regex != nullptr || core->named || core->exact_match)
        return site_error(cf, conf->site, "webhook_console: needs a prefix location (location /console/ {...}), not \"%V\"",
                          &core->name);
    if (auto why = console_uri_problem(sv(core->name)))
        return site_error(cf, conf->site, "webhook_console: the location \"%V\" cannot serve the console (%s)", &core->name,
                          why->c_str());
    if (has_webhook_api(core->loc_conf))
        return site_error(cf, conf->site,
                          "webhook_console: location \"%V\" has webhook_api: give the console a location of its own",
                          &core->name);
    std::optional<std::string> api = api_uri(cf, conf);
    if (!api) return static_cast<char*>(NGX_CONF_ERROR);
    conf->files = prepare_files(cf, with_trailing_slash(sv(core->name)), with_trailing_slash(*api));
    if (conf->files == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    return NGX_CONF_OK;
}

ngx_command_t commands[] = {
    {ngx_string("webhook_console"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1,
     callback<webhook_console, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    nullptr,                                      /* preconfiguration */
    nullptr,                                      /* postconfiguration */
    nullptr,                                      /* create main configuration */
    nullptr,                                      /* init main configuration */
    nullptr,                                      /* create server configuration */
    nullptr,                                      /* merge server configuration */
    callback<create_unset_loc_conf<ConsoleConf>>, /* create location configuration */
    callback<merge_loc_conf, conf_failed>,        /* merge location configuration */
};

}  // namespace

extern "C" {
ngx_module_t ngx_http_webhook_console_module = http_module(&module_ctx, commands);
}
