// ngx_http_webhook_verify_module: `webhook_verify` checks the HMAC signature of
// an incoming webhook in the access phase, before the request goes on.
//
// The body is hashed as NGINX reads it: a request body filter feeds every
// buffer to the HMAC before the buffer is saved (to memory or the temp file),
// so a body is never copied or read back. The access handler starts the read
// as the mirror module does (the read's reference is dropped at once, so a
// read that fails finalizes the request the usual way), and decides once the
// body is complete.
//
// Standard Webhooks' v1a signatures (Ed25519, PureEdDSA) are checked over the
// whole message at once (OpenSSL cannot verify one as it streams): only when
// the request carries a v1a entry and the location a public key, the same
// filter also keeps the signed content (prefix + body) in one buffer of the
// request's pool, at most the location's client_max_body_size (1 MiB when
// that is 0), growing as bytes arrive.
//
// A replay id is reserved while the request is in flight and remembered only
// when the application answered 2xx (the log phase settles it), so a sender's
// retry after a 5xx is accepted and a concurrent duplicate is not.

#include <dlfcn.h>

#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "core/util/ed25519.hpp"
#include "core/verify/signature.hpp"
#include "ngx/common/conf.hpp"
#include "ngx/status/counters.hpp"
#include "ngx/verify/replay_cache.hpp"

using namespace webhook;
using namespace webhook::ngx;

namespace {

struct Secret {
    ngx_http_complex_value_t* value = nullptr;   // with variables: keyed per request
    std::optional<Hmac> keyed;                   // literal HMAC secret: keyed once, copied per request
    std::optional<Ed25519Key> public_key;        // literal whpk_ (standard): parsed once
    Digest key_id;                               // literal: replay_key_id() of the key (scopes replay ids)
};

// The signed content kept for v1a: at most the location's
// client_max_body_size of body, this much when that is 0 (unlimited; NGINX's
// own default limit), and first this much room, grown as bytes arrive (a
// sender that announces a large body and sends nothing holds no more).
constexpr off_t kKeptBodyUnlimitedCap = 1024 * 1024;
constexpr size_t kKeptInitial = 16 * 1024;

// A reserved message id stays reserved this long at most if its request
// never reaches the log phase (a worker that died).
constexpr time_t kReplayPendingSecs = 600;

struct VerifyConf {
    bool enabled = false;
    bool report = false;
    SchemeConfig scheme;
    std::vector<HeaderFamily> families;
    std::vector<Secret> secrets;
    ZoneRef replay_zone_ref;
    bool replay = false;
    Zone* replay_zone = nullptr;
    Zone* stats_zone = nullptr;   // where verifications are counted
    time_t replay_window = 0;
    ConfSite site;                // the directive
};

struct LocConf {
    VerifyConf* verify;   // NGX_CONF_UNSET_PTR: inherit; with enabled false: off
};

struct RequestCtx {
    const VerifyConf* conf = nullptr;   // the configuration deciding (changes on a redirect)
    // One HMAC per usable secret, and with replay= its key's id: arrays in
    // the request's pool, so the accepting path allocates nothing else.
    Hmac* macs = nullptr;
    Digest* key_ids = nullptr;
    size_t nmacs = 0;
    // What start() parsed and finish() needs: the header names (for the
    // sender's message), the candidate MACs (in the pool, as many as the
    // sender sent, not kMaxSignatures: a small context fits the request's
    // first pool block) and the signed id.
    HeaderFamily names;
    Digest* signatures = nullptr;
    size_t nsignatures = 0;
    std::string_view replay_id;   // in the header's value
    EntryCounts ignored;          // v1 / v1a entries passed over (named in the sender's message)
    // v1a (Ed25519), set only when the request has v1a entries and a public
    // key applies: the signatures (in the pool), the keys (literal ones are
    // the configuration's, those from variables owned here) and with
    // replay= their ids.
    Digest* ed_signatures = nullptr;
    size_t ned_signatures = 0;
    const Ed25519Key** pub_keys = nullptr;
    Digest* pub_key_ids = nullptr;
    size_t npub = 0;
    std::vector<Ed25519Key> owned_keys;
    // The signed content, kept while `keeping` (the body filter appends).
    u_char* message = nullptr;
    size_t message_len = 0;
    size_t message_cap = 0;
    size_t message_max = 0;       // the signed prefix + the body limit (or the announced length)
    size_t body_limit = 0;        // the body limit, for the messages
    bool keeping = false;
    bool message_too_large = false;   // over body_limit: v1a was not checked
    std::string detail;      // the sender's message
    std::string note;        // for the log only: what the sender cannot act on (secrets, internal errors)
    Verdict verdict = Verdict::bad_signature;   // fail closed until finish() says ok
    bool hashing = false;     // the body filter feeds macs
    bool hash_failed = false;
    bool body_done = false;   // the post handler ran
    bool reading = false;     // the handler returned NGX_DONE and waits for the body
    bool decided = false;
    // A reserved replay id, settled in the log phase (or when freed).
    Zone* replay_zone = nullptr;
    Digest replay_key;
    uint64_t replay_token = 0;
    time_t replay_window = 0;

    void settle_replay(bool remember) {
        if (replay_token == 0) return;
        uint64_t token = replay_token;
        replay_token = 0;
        time_t expires = ngx_time() + replay_window;
        replay_settle(replay_zone, replay_key, token, remember, expires);
        // A fleet's other nodes learn it through the store, in a moment
        // (docs/fleet.md: what replay= guarantees across nodes).
        if (remember && replay_zone->store->fleet)
            log_submit(replay_zone, nullptr, Submission{store::ReplaySeen{replay_key.str(), expires}, nullptr, nullptr},
                       nullptr);
    }
    // The keyed states are as good as the keys: wiped, not left in the pool.
    void wipe_macs() {
        if (macs != nullptr) ngx_explicit_memzero(macs, nmacs * sizeof(Hmac));
        nmacs = 0;
    }
    ~RequestCtx() {
        settle_replay(false);
        wipe_macs();
    }
};

ngx_http_request_body_filter_pt next_request_body_filter;

// --- per-request context, found again after an internal redirect --------------


RequestCtx* get_ctx(ngx_http_request_t* r) {
    auto* ctx = static_cast<RequestCtx*>(ngx_http_get_module_ctx(r, ngx_http_webhook_verify_module));
    if (ctx != nullptr || !(r->internal || r->filter_finalize)) return ctx;
    // r->ctx was zeroed by an internal redirect; the pool cleanup still has it.
    for (ngx_pool_cleanup_t* cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == callback<destroy<RequestCtx>>) {
            ctx = static_cast<RequestCtx*>(cln->data);
            ngx_http_set_ctx(r, ctx, ngx_http_webhook_verify_module);
            return ctx;
        }
    }
    return nullptr;
}

RequestCtx* create_ctx(ngx_http_request_t* r) {
    auto* ctx = pool_new<RequestCtx>(r->pool);
    if (ctx != nullptr) ngx_http_set_ctx(r, ctx, ngx_http_webhook_verify_module);
    return ctx;
}

// --- hashing ------------------------------------------------------------------

void hash_bytes(RequestCtx* ctx, const u_char* p, size_t n) {
    for (size_t i = 0; i < ctx->nmacs; i++) ctx->macs[i].update(p, n);
}

// --- the signed content, kept for v1a -------------------------------------------

// Gives the kept content back to the pool at once (a large allocation is
// freed; a small one stays until the request ends).
void release_message(ngx_http_request_t* r, RequestCtx* ctx) {
    if (ctx->message != nullptr) ngx_pfree(r->pool, ctx->message);
    ctx->message = nullptr;
    ctx->message_len = ctx->message_cap = 0;
    ctx->keeping = false;
}

// Appends to the kept content, growing it (at least doubling, never past
// message_max). Over message_max: stops keeping, v1a is not checked.
void keep_bytes(ngx_http_request_t* r, RequestCtx* ctx, const u_char* p, size_t n) {
    if (!ctx->keeping || n == 0) return;
    if (n > ctx->message_max - ctx->message_len) {
        ctx->message_too_large = true;
        release_message(r, ctx);
        return;
    }
    size_t need = ctx->message_len + n;
    if (need > ctx->message_cap) {
        size_t cap = std::max(need, std::min(ctx->message_max, 2 * ctx->message_cap));
        auto* grown = static_cast<u_char*>(ngx_palloc(r->pool, cap));
        if (grown == nullptr) throw std::bad_alloc();   // fails closed (hash_failed)
        if (ctx->message_len > 0) ngx_memcpy(grown, ctx->message, ctx->message_len);
        ngx_pfree(r->pool, ctx->message);
        ctx->message = grown;
        ctx->message_cap = cap;
    }
    ngx_memcpy(ctx->message + ctx->message_len, p, n);
    ctx->message_len += n;
}

// Starts keeping the signed content with its prefix, when the body may fit:
// false when the announced Content-Length is over the limit.
bool start_keeping(ngx_http_request_t* r, RequestCtx* ctx, std::string_view prefix) {
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    // NGINX refuses a body over client_max_body_size itself (413, before its
    // bytes arrive for a Content-Length, as they arrive when chunked or over
    // HTTP/2); 0 (unlimited) is capped here.
    off_t limit = clcf->client_max_body_size > 0 ? clcf->client_max_body_size : kKeptBodyUnlimitedCap;
    ctx->body_limit = static_cast<size_t>(limit);
    off_t announced = r->headers_in.content_length_n;
    if (announced > limit) {
        ctx->message_too_large = true;
        return false;
    }
    ctx->message_max = prefix.size() + static_cast<size_t>(announced >= 0 ? announced : limit);
    size_t cap = std::min(ctx->message_max, prefix.size() + kKeptInitial);
    ctx->message = static_cast<u_char*>(ngx_palloc(r->pool, cap));
    if (ctx->message == nullptr) throw std::bad_alloc();
    ctx->message_cap = cap;
    ctx->keeping = true;
    keep_bytes(r, ctx, reinterpret_cast<const u_char*>(prefix.data()), prefix.size());
    return true;
}

// For the log: what the operator changes so that such a body is checked.
std::string too_large_note(ngx_http_request_t* r, const RequestCtx* ctx) {
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    std::string limit = std::to_string(ctx->body_limit);
    if (clcf->client_max_body_size == 0)
        return "v1a is checked over the body held in memory, at most " + limit +
               " bytes when client_max_body_size is 0 (unlimited): set client_max_body_size in this location";
    return "v1a is checked over the body held in memory, at most client_max_body_size (" + limit +
           " bytes): raise client_max_body_size in this location";
}

// A buffer in memory is hashed (and kept) in place; one only in a file (a
// body another module read before us) is read back in chunks.
ngx_int_t feed_buf(ngx_http_request_t* r, RequestCtx* ctx, ngx_buf_t* b) {
    if (ngx_buf_in_memory(b)) {
        hash_bytes(ctx, b->pos, b->last - b->pos);
        keep_bytes(r, ctx, b->pos, b->last - b->pos);
        return NGX_OK;
    }
    if (!b->in_file) return NGX_OK;
    u_char chunk[65536];
    for (off_t off = b->file_pos; off < b->file_last;) {
        size_t want = static_cast<size_t>(ngx_min(static_cast<off_t>(sizeof(chunk)), b->file_last - off));
        ssize_t n = ngx_read_file(b->file, chunk, want, off);
        if (n <= 0) return NGX_ERROR;
        hash_bytes(ctx, chunk, n);
        keep_bytes(r, ctx, chunk, n);
        off += n;
    }
    return NGX_OK;
}

ngx_int_t request_body_filter(ngx_http_request_t* r, ngx_chain_t* in) {
    auto* ctx = static_cast<RequestCtx*>(ngx_http_get_module_ctx(r, ngx_http_webhook_verify_module));
    if (ctx != nullptr && ctx->hashing && !ctx->hash_failed) {
        // A body that cannot be hashed (or kept) is refused by the verdict
        // (fail closed), and still passed on to the next filter.
        try {
            for (ngx_chain_t* cl = in; cl && !ctx->hash_failed; cl = cl->next) {
                if (feed_buf(r, ctx, cl->buf) != NGX_OK) ctx->hash_failed = true;
            }
        } catch (...) {
            ctx->hash_failed = true;
        }
        if (ctx->hash_failed) release_message(r, ctx);
    }
    return next_request_body_filter(r, in);
}

// --- the decision -------------------------------------------------------------

std::optional<std::string_view> header_value(ngx_http_request_t* r, std::string_view name) {
    if (name.empty()) return std::nullopt;
    ngx_table_elt_t* h = find_header(r, name);
    if (h == nullptr) return std::nullopt;
    return sv(h->value);
}

// Reads the headers, and when they can be checked without the body, keys the
// HMACs and feeds them the signed prefix (and with a v1a signature and a
// public key, starts keeping the signed content). False: decided already.
bool start(ngx_http_request_t* r, RequestCtx* ctx) {
    const VerifyConf& conf = *ctx->conf;
    HeaderValues values;
    for (const HeaderFamily& f : conf.families) {
        values.signature = header_value(r, f.signature);
        if (!values.signature) continue;
        values.timestamp = header_value(r, f.timestamp);
        values.id = header_value(r, f.id);
        values.names = f;
        break;
    }

    Parsed parsed = parse_request(conf.scheme, conf.families, values, ngx_time());
    ctx->names = parsed.names;
    if (parsed.verdict != Verdict::ok) {
        ctx->verdict = parsed.verdict;
        ctx->detail = std::move(parsed.detail);
        return false;
    }
    ctx->ignored = parsed.ignored;
    ctx->nsignatures = parsed.signatures.size();
    ctx->signatures = static_cast<Digest*>(ngx_palloc(r->pool, ctx->nsignatures * sizeof(Digest)));
    if (ctx->signatures == nullptr) throw std::bad_alloc();
    std::copy(parsed.signatures.begin(), parsed.signatures.end(), ctx->signatures);
    ctx->replay_id = parsed.replay_id;
    const bool has_v1 = !parsed.signatures.empty();
    const bool has_v1a = !parsed.ed25519.empty();

    // A secret= that evaluates to an empty or undecodable value is skipped
    // (fail closed). It is not logged on its own: the refusal's single info
    // line says so, and a request must not cost more than one log line.
    // HMACs are keyed only for v1 signatures, public keys taken only for v1a.
    const size_t n = conf.secrets.size();
    ctx->macs = static_cast<Hmac*>(ngx_palloc(r->pool, n * sizeof(Hmac)));
    if (ctx->macs == nullptr) throw std::bad_alloc();
    if (conf.replay_zone != nullptr) {
        ctx->key_ids = static_cast<Digest*>(ngx_palloc(r->pool, n * sizeof(Digest)));
        if (ctx->key_ids == nullptr) throw std::bad_alloc();
    }
    if (has_v1a) {
        ctx->ned_signatures = parsed.ed25519.size();
        ctx->ed_signatures = static_cast<Digest*>(ngx_palloc(r->pool, ctx->ned_signatures * sizeof(Digest)));
        ctx->pub_keys = static_cast<const Ed25519Key**>(ngx_palloc(r->pool, n * sizeof(Ed25519Key*)));
        if (ctx->ed_signatures == nullptr || ctx->pub_keys == nullptr) throw std::bad_alloc();
        std::copy(parsed.ed25519.begin(), parsed.ed25519.end(), ctx->ed_signatures);
        if (conf.replay_zone != nullptr) {
            ctx->pub_key_ids = static_cast<Digest*>(ngx_palloc(r->pool, n * sizeof(Digest)));
            if (ctx->pub_key_ids == nullptr) throw std::bad_alloc();
        }
    }
    ngx_uint_t skipped = 0;
    size_t hmac_secrets = 0;     // usable HMAC secrets, keyed or not
    size_t public_keys = 0;      // public keys, taken or not
    bool secret_key = false;     // a variable gave a whsk_
    auto add_hmac = [&](const Hmac& keyed, const Digest& key_id) {
        new (&ctx->macs[ctx->nmacs]) Hmac(keyed);   // a plain copy
        if (ctx->key_ids != nullptr) ctx->key_ids[ctx->nmacs] = key_id;
        ctx->nmacs++;
    };
    auto add_public = [&](const Ed25519Key& key, const Digest& key_id) {
        ctx->pub_keys[ctx->npub] = &key;
        if (ctx->pub_key_ids != nullptr) ctx->pub_key_ids[ctx->npub] = key_id;
        ctx->npub++;
    };
    for (const Secret& s : conf.secrets) {
        if (s.keyed) {   // keyed at configuration time
            hmac_secrets++;
            if (has_v1) add_hmac(*s.keyed, s.key_id);
            continue;
        }
        if (s.public_key) {
            public_keys++;
            if (has_v1a) add_public(*s.public_key, s.key_id);
            continue;
        }
        ngx_str_t value;
        if (ngx_http_complex_value(r, s.value, &value) != NGX_OK) throw std::bad_alloc();
        switch (secret_kind(conf.scheme.scheme, sv(value))) {
        case SecretKind::ed25519_secret:
            secret_key = true;
            break;
        case SecretKind::ed25519_public: {
            if (!has_v1a) {
                public_keys++;
                break;
            }
            std::optional<Ed25519Key> key = Ed25519Key::from_public(sv(value));
            if (!key) {
                skipped++;
                break;
            }
            public_keys++;
            if (ctx->owned_keys.capacity() == 0) ctx->owned_keys.reserve(n);   // add_public keeps pointers
            ctx->owned_keys.push_back(std::move(*key));
            const Ed25519Key& owned = ctx->owned_keys.back();
            add_public(owned, ctx->pub_key_ids != nullptr ? replay_key_id(owned.public_text()) : Digest{});
            break;
        }
        case SecretKind::hmac: {
            std::optional<std::string> key = derive_key(conf.scheme.scheme, sv(value));
            if (!key) {
                skipped++;
                break;
            }
            hmac_secrets++;
            if (has_v1) {
                new (&ctx->macs[ctx->nmacs]) Hmac(conf.scheme.alg, *key);
                if (ctx->key_ids != nullptr) ctx->key_ids[ctx->nmacs] = replay_key_id(*key);
                ctx->nmacs++;
            }
            ngx_explicit_memzero(key->data(), key->size());
            break;
        }
        }
    }
    if (secret_key) {
        // A configuration error only a request shows: said at error, every
        // time, the key never written.
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "webhook_verify: a secret= evaluated to an Ed25519 secret key (whsk_...), which is not used: give "
                      "the sender's public key (whpk_...) instead; the secret key belongs to the sender only");
    }
    if (hmac_secrets == 0 && public_keys == 0) {
        ctx->verdict = Verdict::bad_signature;
        ctx->detail = verdict_detail(conf.scheme, ctx->names, ctx->verdict);
        ctx->note = secret_key ? "no usable secret: every secret= evaluated to an empty or undecodable value, or to an "
                                 "Ed25519 secret key"
                               : "no usable secret: every secret= evaluated to an empty or undecodable value";
        return false;
    }
    if (skipped > 0) ctx->note = "a secret= evaluated to an empty or undecodable value";
    if (ctx->nmacs == 0 && ctx->npub == 0) {
        // Signatures of one kind only, and keys of the other (v1a to an
        // HMAC secret, v1 to a public key): refused before the body.
        ctx->verdict = Verdict::bad_signature;
        ctx->detail = unverifiable_detail(ctx->names, has_v1, has_v1a);
        if (ctx->note.empty()) ctx->note = "no secret= here checks signatures of this kind";
        return false;
    }
    std::string_view prefix = parsed.signed_prefix;
    if (ctx->npub > 0 && !start_keeping(r, ctx, prefix)) {
        // The announced body is over what is kept for v1a.
        ctx->npub = 0;
        if (ctx->nmacs == 0) {
            ctx->verdict = Verdict::bad_signature;
            ctx->detail = ed25519_too_large_detail(ctx->body_limit);
            ctx->note = too_large_note(r, ctx);
            return false;
        }
    }
    hash_bytes(ctx, reinterpret_cast<const u_char*>(prefix.data()), prefix.size());
    return true;
}

// Whether a v1a signature of the kept content is one of the public keys'
// (every pair until one matches; no secret is involved, so an early end
// tells nothing): the key's index.
std::optional<size_t> ed25519_match(const RequestCtx* ctx) {
    std::string_view message(reinterpret_cast<const char*>(ctx->message), ctx->message_len);
    for (size_t k = 0; k < ctx->npub; k++) {
        for (size_t i = 0; i < ctx->ned_signatures; i++) {
            const Digest& sig = ctx->ed_signatures[i];
            if (ctx->pub_keys[k]->verify(message, sig.bytes, sig.size)) return k;
        }
    }
    return std::nullopt;
}

void finish(ngx_http_request_t* r, RequestCtx* ctx) {
    ctx->hashing = false;
    const VerifyConf& conf = *ctx->conf;
    if (ctx->hash_failed) {
        release_message(r, ctx);
        ctx->wipe_macs();
        ctx->verdict = Verdict::bad_signature;
        ctx->detail = verdict_detail(conf.scheme, ctx->names, ctx->verdict);
        ctx->note = "the body could not be hashed";
        return;
    }
    // Every secret is tried (no early exit); the first that matches names the
    // sender for the replay cache.
    const bool hmac_checked = ctx->nmacs > 0;
    bool match = false;
    size_t which = 0;
    Digest digest;
    for (size_t i = 0; i < ctx->nmacs; i++) {
        Digest d = ctx->macs[i].finish();
        if (signature_matches(ctx->signatures, ctx->nsignatures, d) && !match) {
            match = true;
            which = i;
            digest = d;
        }
    }
    ctx->wipe_macs();
    // v1a, when no v1 matched: over the content kept whole.
    const Digest* key_ids = ctx->key_ids;
    if (!match && ctx->keeping && ctx->npub > 0) {
        if (std::optional<size_t> k = ed25519_match(ctx)) {
            match = true;
            which = *k;
            key_ids = ctx->pub_key_ids;
        }
    }
    release_message(r, ctx);
    if (!match) {
        ctx->verdict = Verdict::bad_signature;
        if (ctx->message_too_large) {
            // v1a was not checked: the sender is told why (after what v1, if
            // any was checked, did not match), the log names what to change.
            ctx->detail = hmac_checked ? verdict_detail(conf.scheme, ctx->names, ctx->verdict, ctx->ignored) + "; " +
                                             ed25519_too_large_detail(ctx->body_limit)
                                       : ed25519_too_large_detail(ctx->body_limit);
            ctx->note = too_large_note(r, ctx);
        } else {
            ctx->detail = verdict_detail(conf.scheme, ctx->names, ctx->verdict, ctx->ignored);
        }
        return;
    }
    if (conf.replay_zone != nullptr) {
        time_t now = ngx_time();
        // The id is what the sender signed: webhook-id, else the MAC itself.
        std::string_view id = ctx->replay_id.empty() ? digest.view() : ctx->replay_id;
        Digest key = replay_key(conf.scheme.scheme, key_ids[which], id);
        uint64_t token = 0;
        time_t pending = now + std::min<time_t>(kReplayPendingSecs, conf.replay_window);
        if (replay_reserve(conf.replay_zone, key, now, pending, &token) == ReplayResult::replayed) {
            ctx->verdict = Verdict::replayed;
            ctx->detail = verdict_detail(conf.scheme, ctx->names, ctx->verdict);
            ctx->note = "seen within the replay window, or in flight";
            return;
        }
        ctx->replay_zone = conf.replay_zone;
        ctx->replay_key = key;
        ctx->replay_token = token;
        ctx->replay_window = conf.replay_window;
    }
    ctx->verdict = Verdict::ok;
}

// The verdict as a phase handler's return value; logs a refusal once.
ngx_int_t respond(ngx_http_request_t* r, RequestCtx* ctx) {
    if (!ctx->decided) {
        ctx->decided = true;
        if (Zone* z = ctx->conf->stats_zone) count_verification(z, ctx->verdict);
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "webhook_verify: verdict %d",
                       static_cast<int>(ctx->verdict));
        if (ctx->verdict != Verdict::ok && refusal_logged(r, NGX_HTTP_UNAUTHORIZED)) {
            std::string reason = ctx->detail.empty() ? std::string(verdict_message(ctx->verdict)) : ctx->detail;
            if (!ctx->note.empty()) reason += "; " + ctx->note;
            reason += " (" + std::string(scheme_name(ctx->conf->scheme.scheme)) + ")";
            log_refusal(r, "webhook_verify", NGX_HTTP_UNAUTHORIZED, verdict_code(ctx->verdict), reason,
                        ctx->conf->report ? Refusal::reported : Refusal::refused);
        }
    }
    if (ctx->verdict == Verdict::ok || ctx->conf->report) return NGX_DECLINED;
    return send_error(r, NGX_HTTP_UNAUTHORIZED, verdict_code(ctx->verdict),
                      ctx->detail.empty() ? verdict_message(ctx->verdict) : std::string_view(ctx->detail));
}

void body_post_handler(ngx_http_request_t* r) {
    auto* ctx = static_cast<RequestCtx*>(ngx_http_get_module_ctx(r, ngx_http_webhook_verify_module));
    if (ctx == nullptr || ctx->body_done) return;
    ctx->body_done = true;
    auto fail_closed = [ctx](const char* what) {   // and go on to answer
        log_callback_exception(what);
        ctx->verdict = Verdict::bad_signature;
        ctx->detail.clear();
        ctx->note = "internal error while checking";
    };
    try {
        finish(r, ctx);
    } catch (const std::exception& e) {
        fail_closed(e.what());
    } catch (...) {
        fail_closed("unknown exception");
    }
    if (ctx->reading) {
        ctx->reading = false;
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
}

// A body read already (by a module before us, or before an internal redirect
// into this location): hash what was kept.
ngx_int_t verify_kept_body(ngx_http_request_t* r, RequestCtx* ctx) {
    if (r->request_body->bufs == nullptr && r->request_body->rest > 0) {
        ctx->verdict = Verdict::bad_signature;
        ctx->note = "the body was not kept by an earlier reader";
        return respond(r, ctx);
    }
    try {
        for (ngx_chain_t* cl = r->request_body->bufs; cl && !ctx->hash_failed; cl = cl->next) {
            if (feed_buf(r, ctx, cl->buf) != NGX_OK) ctx->hash_failed = true;
        }
    } catch (const std::bad_alloc&) {
        ctx->hash_failed = true;
    }
    ctx->body_done = true;
    finish(r, ctx);
    return respond(r, ctx);
}

// ngx_http_dav_module wants a PUT body in a file; it may not be built in, so
// it is looked up by name (NGINX exports its symbols to modules).
ngx_module_t* dav_module;

struct DavLocConfHead {
    ngx_uint_t methods;   // first field of ngx_http_dav_loc_conf_t
};

bool dav_takes_put(ngx_http_request_t* r) {
    if (dav_module == nullptr || r->method != NGX_HTTP_PUT) return false;
    auto* dlcf = static_cast<DavLocConfHead*>(ngx_http_get_module_loc_conf(r, (*dav_module)));
    return dlcf != nullptr && (dlcf->methods & NGX_HTTP_PUT);
}

ngx_int_t access_handler_impl(ngx_http_request_t* r) {
    if (r != r->main) return NGX_DECLINED;
    auto* lcf = static_cast<LocConf*>(ngx_http_get_module_loc_conf(r, ngx_http_webhook_verify_module));
    const VerifyConf* vc = lcf->verify != nullptr && lcf->verify->enabled ? lcf->verify : nullptr;

    RequestCtx* ctx = get_ctx(r);
    if (ctx != nullptr && ctx->reading) {
        // Back in the access phase while the body was being read: the read
        // failed (400, 408, 413) and error_page sent the request on. The
        // message is not verified; NGINX answers with its error page.
        ctx->reading = false;
        ctx->hashing = false;
        release_message(r, ctx);
        ctx->decided = true;
        ctx->verdict = Verdict::bad_signature;
        ctx->note = "the body could not be read";
        return NGX_DECLINED;
    }
    if (vc == nullptr) return NGX_DECLINED;

    if (ctx == nullptr && r->err_status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE && r->request_body == nullptr) {
        // NGINX refused the body before the access phase (a Content-Length
        // over client_max_body_size: 413) and error_page brought the request
        // here: as above, NGINX answers; nothing is passed on unverified.
        ctx = create_ctx(r);
        if (ctx == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        ctx->conf = vc;
        ctx->decided = true;
        ctx->note = "the body was refused by NGINX";
        return NGX_DECLINED;
    }

    if (ctx != nullptr) {
        // The phases run again here: the verdict stands.
        if (ctx->conf == vc) return respond(r, ctx);
        // An internal redirect into a location with its own webhook_verify:
        // it decides again, with its own secrets and mode.
        ctx->settle_replay(false);
        ctx->~RequestCtx();
        new (ctx) RequestCtx();
    } else {
        ctx = create_ctx(r);
        if (ctx == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->conf = vc;
    if (!start(r, ctx)) return respond(r, ctx);
    if (r->request_body != nullptr) return verify_kept_body(r, ctx);

    if (dav_takes_put(r)) {
        // What ngx_http_dav_module sets before it reads a PUT body.
        r->request_body_in_file_only = 1;
        r->request_body_in_persistent_file = 1;
        r->request_body_in_clean_file = 1;
        r->request_body_file_group_access = 1;
        r->request_body_file_log_level = 0;
    }

    ctx->hashing = true;
    ngx_int_t rc = ngx_http_read_client_request_body(r, callback<body_post_handler>);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        // Failed at once (a Content-Length over client_max_body_size): as a
        // read that fails later, an error_page served for it comes back here.
        ctx->hashing = false;
        ctx->reading = true;
        return rc;
    }
    // Drop the read's reference now (as the mirror module does): a read that
    // fails later finalizes the request itself, and must find it unshared.
    ngx_http_finalize_request(r, NGX_DONE);
    if (ctx->body_done) return respond(r, ctx);   // read at once
    ctx->reading = true;
    return NGX_DONE;
}

// The application's answer settles a reserved replay id as its head goes
// out (so a sender's immediate retry after a 5xx finds it free); the log
// phase settles what never got an answer.
ngx_http_output_header_filter_pt next_header_filter;

ngx_int_t header_filter(ngx_http_request_t* r) {
    if (r == r->main) {
        RequestCtx* ctx = get_ctx(r);
        if (ctx != nullptr && ctx->replay_token != 0) {
            ngx_uint_t status = r->headers_out.status;
            ctx->settle_replay(status >= 200 && status <= 299);
        }
    }
    return next_header_filter(r);
}

// Log phase: the application's answer settles a reserved replay id.
ngx_int_t log_handler(ngx_http_request_t* r) {
    RequestCtx* ctx = get_ctx(r->main);
    if (ctx == nullptr || ctx->replay_token == 0) return NGX_OK;
    ngx_uint_t status = r->main->headers_out.status;
    ctx->settle_replay(status >= 200 && status <= 299);
    return NGX_OK;
}

// --- $webhook_verify_status ---------------------------------------------------

ngx_int_t status_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t) {
    RequestCtx* ctx = get_ctx(r->main);
    if (ctx == nullptr || !ctx->decided) {
        v->not_found = 1;
        return NGX_OK;
    }
    std::string_view code = verdict_code(ctx->verdict);
    v->data = (u_char*) code.data();
    v->len = code.size();
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

ngx_http_variable_t variables[] = {
    {ngx_string("webhook_verify_status"), nullptr, callback<status_variable>, 0, NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable,
};

// --- configuration ------------------------------------------------------------

struct VerifyArgs {
    VerifyConf* vc;
    std::vector<ngx_str_t> secrets;
    bool custom_format;   // encoding=, prefix=, alg=: the hmac scheme's
    bool replay_given;    // a second replay= would silently win
};

const Param<VerifyArgs> kVerifyParams[] = {
    {"secret", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         a->secrets.push_back(v);   // checked below, once the scheme is known
         return nullptr;
     }},
    {"header", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         if (v.len == 0) return "a header name";
         a->vc->scheme.header = std::string(sv(v));
         return nullptr;
     }},
    {"id_header", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         if (v.len == 0) return "a header name";
         a->vc->scheme.id_header = std::string(sv(v));
         return nullptr;
     }},
    {"encoding", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         if (sv(v) == "hex") a->vc->scheme.encoding = Encoding::hex;
         else if (sv(v) == "base64") a->vc->scheme.encoding = Encoding::base64;
         else return "hex or base64";
         a->custom_format = true;
         return nullptr;
     }},
    {"prefix",
     [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         a->vc->scheme.prefix = std::string(sv(v));
         a->custom_format = true;
         return nullptr;
     },
     kEmptyValueOk},
    {"alg", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         std::optional<HashAlg> alg = hash_alg_from_name(sv(v));
         if (!alg) return "sha256, sha1 or sha512";
         a->vc->scheme.alg = *alg;
         a->custom_format = true;
         return nullptr;
     }},
    {"tolerance", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         time_t secs = ngx_parse_time(&v, 1);
         if (v.len == 0 || secs == static_cast<time_t>(NGX_ERROR)) return "a time such as 300s or 5m";
         a->vc->scheme.tolerance = secs;
         return nullptr;
     }},
    {"replay", [](ngx_conf_t* cf, VerifyArgs* a, ngx_str_t v) -> const char* {
         if (v.len == 0) return "on, off or a zone name";
         if (a->replay_given) return "given twice";
         a->replay_given = true;
         a->vc->replay = sv(v) != "off";
         if (sv(v) == "on" || sv(v) == "off") return nullptr;
         return zone_ref_bind(cf, v, &a->vc->replay_zone_ref) ? nullptr : "cannot bind the zone";
     }},
    {"mode", [](ngx_conf_t*, VerifyArgs* a, ngx_str_t v) -> const char* {
         if (sv(v) == "report") a->vc->report = true;
         else if (sv(v) != "enforce") return "enforce or report";
         return nullptr;
     }},
};

char* parse_verify(ngx_conf_t* cf, LocConf* lcf) {
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);

    auto* vc = pool_new<VerifyConf>(cf->pool);
    if (vc == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    lcf->verify = vc;
    vc->site = conf_site(cf);

    if (cf->args->nelts == 2 && sv(value[1]) == "off") return NGX_CONF_OK;

    std::optional<Scheme> scheme = scheme_from_name(sv(value[1]));
    if (!scheme) {
        return conf_error(cf, "webhook_verify: unknown scheme \"%V\" (standard, github, stripe, slack, shopify, hmac)",
                          &value[1]);
    }
    vc->enabled = true;
    vc->scheme.scheme = *scheme;
    VerifyArgs args{vc, {}, false, false};
    if (char* rv = parse_params(cf, &args, kVerifyParams, 2); rv != NGX_CONF_OK) return rv;
    std::vector<ngx_str_t>& secret_texts = args.secrets;
    bool custom_format = args.custom_format;

    if (custom_format && vc->scheme.scheme != Scheme::hmac) {
        return conf_error(cf, "webhook_verify: encoding=, prefix= and alg= apply to the \"hmac\" scheme only, not \"%V\"",
                          &value[1]);
    }
    if (secret_texts.empty()) return conf_error(cf, "webhook_verify %V: at least one secret= is required", &value[1]);

    vc->secrets.reserve(secret_texts.size());
    for (size_t i = 0; i < secret_texts.size(); i++) {
        ngx_str_t& text = secret_texts[i];
        Secret s;
        s.value = compile_complex(cf, text);
        if (s.value == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
        if (s.value->lengths != nullptr) {   // with variables: per request
            vc->secrets.push_back(std::move(s));
            continue;
        }
        // Which secret= a message is about, when there are several (a key's
        // text is never written).
        char which[32] = "";
        if (secret_texts.size() > 1) ngx_snprintf(reinterpret_cast<u_char*>(which), sizeof(which) - 1, " (secret= number %uz)%Z", i + 1);
        std::string_view t = sv(text);
        if (*scheme != Scheme::standard && (is_ed25519_public_text(t) || is_ed25519_secret_text(t)))
            return conf_error(cf,
                              "webhook_verify %V: secret=%s... is an Ed25519 key%s: Ed25519 (v1a) signatures are the "
                              "\"standard\" scheme's",
                              &value[1], is_ed25519_public_text(t) ? "whpk_" : "whsk_", which);
        switch (secret_kind(*scheme, t)) {
        case SecretKind::ed25519_secret:
            return conf_error(cf,
                              "webhook_verify standard: secret=whsk_... is an Ed25519 secret key%s: give the sender's "
                              "public key (whpk_...) here; the secret key belongs to the sender only",
                              which);
        case SecretKind::ed25519_public: {
            std::optional<Ed25519Key> key = Ed25519Key::from_public(t);
            if (!key)
                return conf_error(cf,
                                  "webhook_verify standard: secret=whpk_...%s is not an Ed25519 public key: whpk_ must "
                                  "be followed by the base64 of 32 bytes",
                                  which);
            s.key_id = replay_key_id(key->public_text());
            s.public_key.emplace(std::move(*key));
            break;
        }
        case SecretKind::hmac: {
            std::optional<std::string> key = derive_key(*scheme, t);
            if (!key) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "webhook_verify: a secret= is empty or not valid whsec_<base64>");
                return static_cast<char*>(NGX_CONF_ERROR);
            }
            s.keyed.emplace(vc->scheme.alg, *key);
            s.key_id = replay_key_id(*key);
            ngx_explicit_memzero(key->data(), key->size());
            break;
        }
        }
        vc->secrets.push_back(std::move(s));
    }
    vc->families = header_families(vc->scheme);

    int64_t tolerance = effective_tolerance(vc->scheme);
    // A timestamped message can come back until its timestamp leaves the
    // window on the far side; without timestamps, remember ids for a day.
    vc->replay_window = tolerance > 0 ? 2 * tolerance : 86400;
    if (vc->scheme.tolerance > 0 && !scheme_has_timestamp(*scheme)) vc->replay_window = vc->scheme.tolerance;
    return NGX_CONF_OK;
}

char* webhook_verify_directive(ngx_conf_t* cf, ngx_command_t*, void* conf) {
    auto* lcf = static_cast<LocConf*>(conf);
    if (lcf->verify != NGX_CONF_UNSET_PTR) return const_cast<char*>("is duplicate");
    return parse_verify(cf, lcf);
}

void* create_loc_conf(ngx_conf_t* cf) {
    auto* conf = static_cast<LocConf*>(ngx_pcalloc(cf->pool, sizeof(LocConf)));
    if (conf == nullptr) return nullptr;
    conf->verify = static_cast<VerifyConf*>(NGX_CONF_UNSET_PTR);
    return conf;
}

char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) {
    auto* prev = static_cast<LocConf*>(parent);
    auto* conf = static_cast<LocConf*>(child);
    // Written in this block (not inherited): a `return` here must not answer first.
    bool own = conf->verify != NGX_CONF_UNSET_PTR && conf->verify->enabled;
    ngx_conf_merge_ptr_value(conf->verify, prev->verify, nullptr);
    VerifyConf* vc = conf->verify;
    if (own && check_early_return(cf, "webhook_verify", vc->site, "verified") != NGX_CONF_OK)
        return static_cast<char*>(NGX_CONF_ERROR);
    if (vc != nullptr && vc->replay && vc->replay_zone == nullptr) {
        vc->replay_zone = zone_resolve(cf, vc->replay_zone_ref, "webhook_verify replay=", vc->site);
        if (vc->replay_zone == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
    }
    // Verifications are counted in the replay zone, else in the only zone.
    if (vc != nullptr && vc->stats_zone == nullptr)
        vc->stats_zone = vc->replay_zone ? vc->replay_zone : zone_resolve(cf, ZoneRef{});
    return NGX_CONF_OK;
}

ngx_int_t preconfiguration(ngx_conf_t* cf) { return add_variables(cf, variables); }

ngx_int_t postconfiguration(ngx_conf_t* cf) {
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* h = static_cast<ngx_http_handler_pt*>(ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = callback<access_handler_impl, http_failed>;
    h = static_cast<ngx_http_handler_pt*>(ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = callback<log_handler>;
    dav_module = static_cast<ngx_module_t*>(dlsym(RTLD_DEFAULT, "ngx_http_dav_module"));

    next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = callback<header_filter>;
    next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = callback<request_body_filter>;
    return NGX_OK;
}

ngx_command_t commands[] = {
    {ngx_string("webhook_verify"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_1MORE,
     callback<webhook_verify_directive, conf_failed>, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    callback<preconfiguration>,    /* preconfiguration */
    callback<postconfiguration>,   /* postconfiguration */
    nullptr,             /* create main configuration */
    nullptr,             /* init main configuration */
    nullptr,             /* create server configuration */
    nullptr,             /* merge server configuration */
    callback<create_loc_conf>,     /* create location configuration */
    callback<merge_loc_conf, conf_failed>,   /* merge location configuration */
};

}  // namespace

extern "C" {
ngx_module_t ngx_http_webhook_verify_module = http_module(&module_ctx, commands);
}
