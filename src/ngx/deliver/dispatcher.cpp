// The dispatcher (docs/delivery.md): each worker claims due deliveries from the zone
// and makes each attempt as a subrequest to the operator's location=, where
// `proxy_pass $webhook_url` sends it on with all of NGINX's proxy settings.
//
// An attempt has no client behind it, so it gets a request of its own, made
// the way njs's js_periodic makes one: a connection slot with no socket, a
// request on it, and a subrequest from that request. What must hold for this
// to be safe, and is kept here:
//  - the connection's events are marked active (and the write event ready),
//    so the upstream neither adds them to epoll nor waits on them;
//  - the subrequest's response never reaches the connection: the body filter
//    keeps an excerpt and swallows the rest;
//  - the request is never closed through ngx_http_close_request (that would
//    close fd 0): errors are turned into NGX_OK in the post-subrequest
//    handler, and the request and slot are freed here, as njs does;
//  - an attempt has one deadline for the whole exchange (resolving,
//    connecting, sending, the response head and body): at the deadline the
//    upstream's own timeout is fired on its connection, so NGINX cleans the
//    upstream up the usual way; until the attempt ends the deadline fires
//    again every second;
//  - the lease of a running attempt is renewed, so it never expires under
//    it (an expired lease means its worker died).

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ngx/deliver/dispatcher.hpp"

#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/util/text.hpp"
#include "ngx/common/shm.hpp"
#include "ngx/deliver/deliver_store.hpp"
#include "ngx/deliver/operational.hpp"
#include "ngx/store/mutation_log.hpp"
#include "ngx/store/fleet.hpp"

namespace webhook::ngx {

namespace {

constexpr size_t kExcerpt = 1024;
constexpr ngx_msec_t kTick = 200;
constexpr size_t kClaimBatch = 32;
constexpr int64_t kLeaseSlackMs = 30000;
constexpr int64_t kRenewEveryMs = 5000;
constexpr ngx_msec_t kDeadlineAgain = 1000;

ngx_str_t kPost = ngx_string("POST");
ngx_str_t kProtocol = ngx_string("HTTP/1.1");
ngx_str_t kLoopbackText = ngx_string("127.0.0.1");

}  // namespace

struct Dispatcher {
    DeliveryConf* conf;
    ngx_event_t tick;
    ngx_uint_t running = 0;
    ngx_queue_t attempts;          // Attempt::link, the running ones
    int64_t renewed_ms = 0;
    bool said_no_resolver = false; // the operator has been told (once per worker)
};

namespace {

struct Attempt {
    ngx_queue_t link;        // in Dispatcher::attempts
    Dispatcher* d;
    Claim claim;
    Url url;
    std::string target_url, host_header, attempt_text;
    int64_t started_ms = 0;
    int64_t timeout_ms = 0;

    ngx_log_t log;
    ngx_http_log_ctx_t log_ctx;
    ngx_http_connection_t hc;
    struct sockaddr_in addr;
    ngx_connection_t* c = nullptr;
    ngx_http_request_t* r = nullptr;
    ngx_http_request_t* sr = nullptr;
    ngx_event_t timer;
    ngx_resolver_ctx_t* rctx = nullptr;

    bool finished = false;   // the outcome is known
    bool timed_out = false;
    int status = 0;
    std::string error, excerpt;
    bool abort = false;
    int64_t retry_after = -1;
};

void noop_handler(ngx_event_t*) {}

u_char* log_handler(ngx_log_t* log, u_char* buf, size_t len) {
    auto* ctx = static_cast<ngx_http_log_ctx_t*>(log->data);
    auto* a = container_of<Attempt>(ctx, offsetof(Attempt, log_ctx));
    return ngx_snprintf(buf, len, ", webhook delivery %s to %s, attempt %s", a->claim.delivery_id.c_str(),
                        a->claim.endpoint_id.c_str(), a->attempt_text.c_str());
}

// A log line goes out without the attempt's context rather than not at all.
u_char* log_handler_failed(ngx_log_t*, u_char* buf, size_t) noexcept { return buf; }

Attempt* attempt_of(ngx_http_request_t* r) {
    return static_cast<Attempt*>(ngx_http_get_module_ctx(r->main, ngx_http_webhook_delivery_module));
}

void tick_handler(ngx_event_t* ev);

void wake(Dispatcher* d) {
    if (!d->tick.posted) {
        ngx_post_event(&d->tick, &ngx_posted_events);
    }
}

// --- the end of an attempt ---------------------------------------------------------

// The operational events of a failed attempt: the endpoint's first failure
// since a success, a delivery failed for good, an endpoint disabled now.
void announce_failure(DeliveryConf& conf, const Attempt& a, const store::AttemptDone& m, const EndpointInfo& before) {
    const Claim& cl = a.claim;
    EndpointFacts e{before.id, before.tenant, before.name, before.url};
    FailedAttempt f{cl.delivery_id, cl.event_id, cl.type, a.error, m.number, static_cast<int>(a.status)};
    if (before.failing_since == 0) publish_endpoint_failing(conf, e, f);
    if (m.outcome == store::AttemptOutcome::failed) publish_delivery_failed(conf, e, f);
    if (!m.disable.empty() && before.enabled) publish_endpoint_disabled(conf, e, m.disable);
}

void record(Attempt* a) {
    DeliveryConf& conf = *a->d->conf;
    int64_t now = now_ms();
    bool ok = !a->timed_out && a->error.empty() && a->status >= 200 && a->status <= 299;

    store::AttemptDone m;
    m.delivery = a->claim.delivery_id;
    m.token = a->claim.token;
    m.number = a->claim.attempts + 1;
    m.outcome = ok ? store::AttemptOutcome::succeeded : store::AttemptOutcome::failed;
    if (ok) {
    } else if (a->abort) {
        if (a->error.empty()) a->error = "aborted_by_receiver";
    } else if (a->status == 410) {
        m.disable = "the endpoint answered 410 Gone";
    } else if (m.number < conf.retries.size()) {
        m.outcome = store::AttemptOutcome::retry;
        int64_t delay = jittered(conf.retries[m.number], static_cast<uint32_t>(ngx_random()));
        if ((a->status == 429 || a->status == 503) && a->retry_after >= 0) delay = apply_retry_after(delay, a->retry_after);
        m.next_attempt_at = now + delay;
    }
    if (!ok && m.disable.empty() && a->claim.failing_since > 0 && now - a->claim.failing_since >= conf.disable_after_ms)
        m.disable = "every attempt failed for longer than disable_after";
    if (!ok && a->error.empty()) a->error = "http_" + std::to_string(a->status);
    m.attempt.at_ms = a->started_ms;
    m.attempt.response_status = a->status;
    m.attempt.response_time_ms = now - a->started_ms;
    if (!ok) m.attempt.error = a->error;
    m.attempt.response = a->excerpt;

    // The endpoint as the outcome finds it, for the operational events the
    // outcome causes (read before it is applied).
    std::optional<EndpointInfo> before;
    if (!ok) before = endpoint_by_id(conf.zone, a->claim.endpoint_id);

    // An outcome is written with the next batch and nobody waits for it: at
    // worst a crash repeats the attempt (at-least-once).
    log_submit(conf.zone, nullptr, Submission{m, nullptr, nullptr}, nullptr);
    if (before) announce_failure(conf, *a, m, *before);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &a->log, 0, "webhook attempt %ui: status %i, outcome %i",
                   static_cast<ngx_uint_t>(m.number), static_cast<ngx_int_t>(a->status),
                   static_cast<ngx_int_t>(m.outcome));
    if (!ok) {
        bool retry = m.outcome == store::AttemptOutcome::retry;
        ngx_uint_t level = retry ? NGX_LOG_INFO : NGX_LOG_WARN;
        ngx_log_error(level, &a->log, 0, "webhook attempt failed: %s%s%s", a->error.c_str(),
                      retry ? ", will retry" : ", delivery failed", m.disable.empty() ? "" : ", endpoint disabled");
    }
}

// Frees the request and the connection slot without closing any socket.
void release_request(Attempt* a) {
    if (a->r == nullptr) return;
    ngx_connection_t* c = a->c;
    a->r->logged = 1;
    ngx_http_free_request(a->r, 0);
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
    c->pool = nullptr;
    c->destroyed = 1;
    a->r = nullptr;
    a->c = nullptr;
}

// Every attempt ends here, once: should recording its outcome fail (no
// memory), the attempt is freed all the same and the lease brings the
// delivery back.
void complete(Attempt* a) {
    try {
        record(a);
    } catch (const std::exception& e) {
        log_callback_exception(e.what());
    } catch (...) {
        log_callback_exception("unknown exception");
    }
    if (a->timer.timer_set) ngx_del_timer(&a->timer);
    release_request(a);
    Dispatcher* d = a->d;
    d->running--;
    ngx_queue_remove(&a->link);
    delete a;
    wake(d);
}

// The subrequest is done: read the outcome. Errors become NGX_OK so that
// NGINX neither builds an error page nor terminates the (socketless) request.
ngx_int_t subrequest_done(ngx_http_request_t* sr, void* data, ngx_int_t rc) {
    auto* a = static_cast<Attempt*>(data);
    if (a->finished) return rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE ? NGX_OK : rc;
    a->finished = true;
    if (sr->header_sent || (sr->headers_out.status && rc < NGX_HTTP_SPECIAL_RESPONSE && rc != NGX_ERROR)) {
        a->status = static_cast<int>(sr->headers_out.status);
        for_each_header(&sr->headers_out.headers, [a](ngx_table_elt_t* h) {
            std::string_view key = sv(h->key), value = sv(h->value);
            if (ascii_iequals(key, "webhook-delivery") && value == "abort-message") a->abort = true;
            if (ascii_iequals(key, "retry-after")) {
                if (auto s = parse_retry_after(value, ngx_time())) a->retry_after = *s;
            }
            return true;
        });
    } else if (a->timed_out || rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        a->error = "timeout";
    } else if (rc == NGX_HTTP_BAD_GATEWAY) {
        a->error = "connection_failed";
    } else {
        a->error = "error_" + std::to_string(rc);
    }
    if (a->timed_out && a->error.empty()) a->error = "timeout";
    return rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE ? NGX_OK : rc;
}

// The request's write handler runs once the subrequest is finalized.
void parent_handler(ngx_http_request_t* r) {
    Attempt* a = attempt_of(r);
    if (a == nullptr || !a->finished || a->sr == nullptr || !a->sr->done) return;
    complete(a);
}

void timeout_handler(ngx_event_t* ev) {
    auto* a = static_cast<Attempt*>(ev->data);
    a->timed_out = true;
    if (a->rctx != nullptr) {
        ngx_resolve_name_done(a->rctx);
        a->rctx = nullptr;
        a->error = "timeout";
        complete(a);
        return;
    }
    if (a->finished || a->sr == nullptr) return;
    // Until the attempt ends, the deadline comes back (the upstream may be
    // between two connections, or in a phase with no connection yet).
    ngx_add_timer(&a->timer, kDeadlineAgain);
    ngx_http_upstream_t* u = a->sr->upstream;
    if (u == nullptr || u->peer.connection == nullptr) return;
    // Fire the upstream's own timeout on what it waits for: before the
    // response head it finalizes the subrequest with 504; while reading the
    // body it ends the exchange as an upstream error. Either way NGINX closes
    // the connection, and the attempt ends here or in a moment.
    ngx_connection_t* pc = u->peer.connection;
    ngx_event_t* e = (u->request_sent || a->sr->header_sent) ? pc->read : pc->write;
    if (e->timer_set) ngx_del_timer(e);
    e->timedout = 1;
    e->handler(e);
}

// --- making the request -------------------------------------------------------------

bool add_header(ngx_http_request_t* r, std::string_view name, std::string_view value) {
    if (!header_safe(value)) return false;
    auto* h = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_in.headers));
    if (h == nullptr) return false;
    auto* key = static_cast<u_char*>(ngx_pnalloc(r->pool, name.size() * 2 + value.size()));
    if (key == nullptr) return false;
    ngx_memcpy(key, name.data(), name.size());
    u_char* low = key + name.size();
    ngx_strlow(low, key, name.size());
    u_char* val = low + name.size();
    ngx_memcpy(val, value.data(), value.size());
    h->key = {name.size(), key};
    h->lowcase_key = low;
    h->value = {value.size(), val};
    h->hash = ngx_hash_key(low, name.size());
    return true;
}

// The signature headers, or why there are none (the attempt's error).
const char* add_signature_headers(Attempt* a) {
    ngx_http_request_t* r = a->r;
    const SignConf& s = sign_conf();
    const Claim& cl = a->claim;
    int64_t ts = ngx_time();
    if (s.standard) {
        auto sig = endpoint_signature(cl.secrets, cl.event_id, ts, cl.payload);
        if (!sig) return "signing_failed";
        bool ok = add_header(r, "webhook-id", cl.event_id) && add_header(r, "webhook-timestamp", std::to_string(ts)) &&
                  add_header(r, "webhook-signature", *sig);
        return ok ? nullptr : "request_setup_failed";
    }
    // A single-header HMAC has no Ed25519 form: such an endpoint needs
    // webhook_sign standard (its registration is refused otherwise).
    if (signing_of(cl.secrets.front()) != Signing::hmac) return "ed25519_needs_webhook_sign_standard";
    bool ok = add_header(r, s.header, body_signature(HashAlg::sha256, cl.secrets.front(), cl.payload, s.encoding, s.prefix));
    if (ok && !s.event_header.empty()) ok = add_header(r, s.event_header, cl.type);
    if (ok && !s.id_header.empty()) ok = add_header(r, s.id_header, cl.delivery_id);
    if (ok && !s.timestamp_header.empty()) ok = add_header(r, s.timestamp_header, std::to_string(ts));
    return ok ? nullptr : "request_setup_failed";
}

// The publisher's trace context, on every attempt as it was published (the
// module records no span of its own: docs/delivery.md#trace-context).
bool add_trace_headers(Attempt* a) {
    const Claim& cl = a->claim;
    if (cl.traceparent.empty()) return true;
    return add_header(a->r, "traceparent", cl.traceparent) &&
           (cl.tracestate.empty() || add_header(a->r, "tracestate", cl.tracestate));
}

// Builds the socketless request and starts the subrequest. After the call `a`
// may already be gone (an attempt can finish synchronously).
void launch(Attempt* a) {
    DeliveryConf& conf = *a->d->conf;
    ngx_connection_t* c = ngx_get_connection(0, &a->log);
    if (c == nullptr) {
        a->error = "no_free_connection";
        complete(a);
        return;
    }
    a->c = c;
    a->hc.conf_ctx = conf.server_ctx;
    c->data = &a->hc;
    a->addr.sin_family = AF_INET;
    a->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->sockaddr = reinterpret_cast<sockaddr*>(&a->addr);
    c->socklen = sizeof(a->addr);
    c->local_sockaddr = c->sockaddr;
    c->local_socklen = c->socklen;
    c->addr_text = kLoopbackText;
    c->read->handler = callback<noop_handler>;
    c->write->handler = callback<noop_handler>;
    c->read->active = 1;    // never added to epoll: there is no socket
    c->write->active = 1;
    c->write->ready = 1;
    c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    a->log.connection = c->number;

    ngx_http_request_t* r = ngx_http_create_request(c);
    if (r == nullptr) {
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
        a->c = nullptr;
        a->error = "no_memory";
        complete(a);
        return;
    }
    a->r = r;
    c->data = r;
    c->pool = r->pool;
    c->destroyed = 0;
    ngx_http_set_ctx(r, a, ngx_http_webhook_delivery_module);

    r->method = NGX_HTTP_POST;
    r->method_name = kPost;
    r->http_version = NGX_HTTP_VERSION_11;
    r->http_protocol = kProtocol;
    r->uri = conf.location;
    r->unparsed_uri = conf.location;
    r->valid_unparsed_uri = 1;
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = callback<parent_handler>;

    auto* body = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
    auto* cl = ngx_alloc_chain_link(r->pool);
    r->request_body = static_cast<ngx_http_request_body_t*>(ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t)));
    auto* ps = static_cast<ngx_http_post_subrequest_t*>(ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t)));
    bool ok = body && cl && r->request_body && ps &&
              ngx_list_init(&r->headers_in.headers, r->pool, 8, sizeof(ngx_table_elt_t)) == NGX_OK &&
              add_header(r, "Content-Type", "application/json") && add_header(r, "User-Agent", "ngx_webhook/1.0") &&
              add_trace_headers(a);
    const char* unsigned_why = ok ? add_signature_headers(a) : "request_setup_failed";
    if (unsigned_why != nullptr) {
        a->error = unsigned_why;
        complete(a);
        return;
    }
    body->pos = (u_char*) a->claim.payload.data();
    body->last = body->pos + a->claim.payload.size();
    body->memory = 1;
    body->last_buf = 1;
    cl->buf = body;
    cl->next = nullptr;
    r->request_body->bufs = cl;
    r->headers_in.content_length_n = static_cast<off_t>(a->claim.payload.size());

    ps->handler = callback<subrequest_done, ok_failed>;
    ps->data = a;
    ngx_str_t uri = conf.location;
    if (ngx_http_subrequest(r, &uri, nullptr, &a->sr, ps, NGX_HTTP_SUBREQUEST_WAITED) != NGX_OK) {
        a->error = "subrequest_failed";
        complete(a);
        return;
    }
    a->sr->method = NGX_HTTP_POST;
    a->sr->method_name = kPost;
    ngx_http_run_posted_requests(c);
}

void resolved(ngx_resolver_ctx_t* ctx) {
    auto* a = static_cast<Attempt*>(ctx->data);
    a->rctx = nullptr;
    const AddressPolicy& policy = a->d->conf->policy;
    if (ctx->state != NGX_OK || ctx->naddrs == 0) {
        a->error = std::string("dns_error: ") + (ctx->state ? (const char*) ngx_resolver_strerror(ctx->state) : "no address");
        ngx_resolve_name_done(ctx);
        complete(a);
        return;
    }
    // Every address must be allowed (a name that also points inside is refused).
    char text[NGX_SOCKADDR_STRLEN];
    std::string chosen;
    bool v6 = false, allowed = true;
    for (ngx_uint_t i = 0; i < ctx->naddrs; i++) {
        sockaddr* sa = ctx->addrs[i].sockaddr;
        const unsigned char* bytes;
        bool is6 = sa->sa_family == AF_INET6;
        if (is6) bytes = reinterpret_cast<sockaddr_in6*>(sa)->sin6_addr.s6_addr;
        else bytes = reinterpret_cast<const unsigned char*>(&reinterpret_cast<sockaddr_in*>(sa)->sin_addr.s_addr);
        allowed &= policy.permits(bytes, is6);
        if (i == 0) {
            inet_ntop(is6 ? AF_INET6 : AF_INET, bytes, text, sizeof(text));
            chosen = text;
            v6 = is6;
        }
    }
    ngx_resolve_name_done(ctx);
    if (!allowed) {
        a->error = "address_not_allowed";
        complete(a);
        return;
    }
    a->target_url = a->url.with_address(chosen, v6);
    launch(a);
}

void start(Dispatcher* d, Claim claim) {
    DeliveryConf& conf = *d->conf;
    auto* a = new Attempt();
    a->d = d;
    a->claim = std::move(claim);
    a->attempt_text = std::to_string(a->claim.attempts + 1);
    a->started_ms = now_ms();
    a->timeout_ms = a->claim.timeout_ms;
    for (const EventType& t : event_types())
        if (t.type == a->claim.type && t.timeout_ms > 0) a->timeout_ms = t.timeout_ms;
    a->log = *ngx_cycle->log;
    a->log.data = &a->log_ctx;
    a->log.handler = callback<log_handler, log_handler_failed>;
    a->log.action = nullptr;
    a->timer.handler = callback<timeout_handler>;
    a->timer.data = a;
    a->timer.log = &a->log;
    d->running++;
    ngx_queue_insert_tail(&d->attempts, &a->link);
    ngx_add_timer(&a->timer, static_cast<ngx_msec_t>(a->timeout_ms));

    auto parsed = parse_webhook_url(a->claim.url, true);
    if (std::holds_alternative<ApiError>(parsed)) {
        a->error = "invalid_url";
        complete(a);
        return;
    }
    a->url = std::get<Url>(parsed);
    a->host_header = a->url.host_header();
    if (!a->url.https && !conf.allow_http) {
        a->error = "http_not_allowed";
        complete(a);
        return;
    }
    // An IP literal, or a localhost name (loopback by definition, never
    // asked of DNS): judged as registration judged it.
    if (std::optional<FixedAddress> fixed = fixed_address(a->url.host, conf.policy)) {
        if (!conf.policy.permits(fixed->addr, fixed->ipv6)) {
            a->error = "address_not_allowed";
            complete(a);
            return;
        }
        a->target_url = a->url.with_address(fixed->text, fixed->ipv6);
        launch(a);
        return;
    }
    ngx_http_core_loc_conf_t* clcf = conf.location_clcf;
    ngx_resolver_ctx_t* ctx = clcf->resolver ? ngx_resolve_start(clcf->resolver, nullptr) : nullptr;
    if (ctx == nullptr || ctx == NGX_NO_RESOLVER) {
        // Every attempt to a host name fails until the configuration
        // changes: worth more than each attempt's info line.
        if (!a->d->said_no_resolver) {
            a->d->said_no_resolver = true;
            ngx_log_error(NGX_LOG_WARN, &a->log, 0,
                          "webhook delivery: no \"resolver\" applies to location \"%V\": attempts to endpoints given "
                          "by host name fail with no_resolver; add \"resolver ADDRESS;\"", &clcf->name);
        }
        a->error = "no_resolver";
        complete(a);
        return;
    }
    a->rctx = ctx;
    ctx->name.len = a->url.host.size();
    ctx->name.data = (u_char*) a->url.host.data();
    ctx->handler = callback<resolved>;
    ctx->data = a;
    ctx->timeout = clcf->resolver_timeout;
    if (ngx_resolve_name(ctx) != NGX_OK) {
        a->rctx = nullptr;
        a->error = "dns_error";
        complete(a);
    }
}

// The tick comes back whatever happens in it.
void tick_again(ngx_event_t* ev) {
    if (!ev->timer_set && !(ngx_exiting || ngx_quit || ngx_terminate)) ngx_add_timer(ev, kTick);
}

void tick_handler(ngx_event_t* ev) {
    auto* d = static_cast<Dispatcher*>(ev->data);
    if (ngx_exiting || ngx_quit || ngx_terminate) return;   // the next workers take over
    {
        int64_t type_timeout = 0;
        for (const EventType& t : event_types()) type_timeout = std::max(type_timeout, t.timeout_ms);
        DispatchLimits limits{d->conf->concurrency, d->conf->per_endpoint, kLeaseSlackMs, type_timeout,
                              static_cast<uint32_t>(d->conf->retries.size())};
        int64_t now = now_ms();
        if (now - d->renewed_ms >= kRenewEveryMs && !ngx_queue_empty(&d->attempts)) {
            std::vector<LeaseRef> leases;
            for (ngx_queue_t* q = ngx_queue_head(&d->attempts); q != ngx_queue_sentinel(&d->attempts);
                 q = ngx_queue_next(q)) {
                auto* a = ngx_queue_data(q, Attempt, link);
                leases.push_back({a->claim.delivery_id, a->claim.token});
            }
            renew_leases(d->conf->zone, leases, now + kLeaseSlackMs);
            d->renewed_ms = now;
        }
        // A fleet node whose lease in the store is not fresh makes no
        // attempt: another node may adopt its deliveries.
        std::vector<Claim> claims;
        if (fleet_may_deliver(d->conf->zone, now)) claims = claim_due(d->conf->zone, now, limits, kClaimBatch);
        if (!claims.empty())
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0, "webhook dispatcher: %uz claimed, %ui running", claims.size(),
                           d->running);
        for (Claim& c : claims) start(d, std::move(c));
    }
    tick_again(ev);
}

}  // namespace

ngx_int_t dispatcher_init_process(ngx_cycle_t* cycle, DeliveryConf& conf) {
    auto* d = new Dispatcher();
    d->conf = &conf;
    d->tick.handler = callback<tick_handler, tick_again>;
    d->tick.data = d;
    d->tick.log = cycle->log;
    d->tick.cancelable = 1;
    ngx_queue_init(&d->attempts);
    conf.dispatcher = d;
    ngx_add_timer(&d->tick, kTick + (ngx_worker % 8) * 25);
    return NGX_OK;
}

void dispatcher_exit_process(DeliveryConf& conf) {
    // No attempt is left: their timers keep a worker until they end.
    delete conf.dispatcher;
    conf.dispatcher = nullptr;
}

void dispatcher_wake(DeliveryConf& conf) {
    if (conf.dispatcher != nullptr) wake(conf.dispatcher);
}

ngx_int_t attempt_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t which) {
    using Field = const std::string& (*)(const Attempt&);
    static constexpr Field kFields[] = {
        [](const Attempt& a) -> const std::string& { return a.target_url; },         // url
        [](const Attempt& a) -> const std::string& { return a.claim.event_id; },     // id
        [](const Attempt& a) -> const std::string& { return a.claim.type; },         // event
        [](const Attempt& a) -> const std::string& { return a.claim.endpoint_id; },  // endpoint_id
        [](const Attempt& a) -> const std::string& { return a.attempt_text; },       // attempt
        [](const Attempt& a) -> const std::string& { return a.host_header; },        // host
        [](const Attempt& a) -> const std::string& { return a.url.host; },           // server_name
        [](const Attempt& a) -> const std::string& { return a.claim.traceparent; },  // traceparent
    };
    Attempt* a = attempt_of(r);
    if (a == nullptr || which >= sizeof(kFields) / sizeof(kFields[0])) {
        v->not_found = 1;
        return NGX_OK;
    }
    const std::string& s = kFields[which](*a);
    v->data = (u_char*) s.data();
    v->len = s.size();
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

ngx_int_t attempt_body_filter(ngx_http_request_t* r, ngx_chain_t* in, bool* handled) {
    if (r == r->main) return NGX_OK;
    Attempt* a = attempt_of(r);
    if (a == nullptr || r != a->sr) return NGX_OK;
    *handled = true;
    for (ngx_chain_t* cl = in; cl; cl = cl->next) {
        ngx_buf_t* b = cl->buf;
        if (ngx_buf_in_memory(b)) {
            size_t room = kExcerpt - std::min(kExcerpt, a->excerpt.size());
            size_t n = std::min(room, static_cast<size_t>(b->last - b->pos));
            a->excerpt.append((const char*) b->pos, n);
            b->pos = b->last;
        }
        if (b->in_file) b->file_pos = b->file_last;
    }
    return NGX_OK;
}

}  // namespace webhook::ngx
