#include "core/verify/signature.hpp"

#include "core/util/ed25519.hpp"
#include "core/util/encoding.hpp"
#include "core/util/text.hpp"

#include <algorithm>
#include <cstring>

namespace webhook {

namespace {

// Unix seconds: digits only, at most 12 of them.
std::optional<int64_t> parse_unix(std::string_view s) {
    if (s.empty() || s.size() > 12) return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

Parsed refuse(Verdict v, std::string detail) {
    Parsed p;
    p.verdict = v;
    p.detail = std::move(detail);
    return p;
}

}  // namespace

std::optional<Scheme> scheme_from_name(std::string_view name) {
    if (name == "standard") return Scheme::standard;
    if (name == "github") return Scheme::github;
    if (name == "stripe") return Scheme::stripe;
    if (name == "slack") return Scheme::slack;
    if (name == "shopify") return Scheme::shopify;
    if (name == "hmac") return Scheme::hmac;
    return std::nullopt;
}

std::string_view scheme_name(Scheme scheme) {
    switch (scheme) {
    case Scheme::standard: return "standard";
    case Scheme::github: return "github";
    case Scheme::stripe: return "stripe";
    case Scheme::slack: return "slack";
    case Scheme::shopify: return "shopify";
    case Scheme::hmac: break;
    }
    return "hmac";
}

std::string_view verdict_code(Verdict v) {
    switch (v) {
    case Verdict::ok: return "ok";
    case Verdict::missing_signature: return "missing_signature";
    case Verdict::malformed_signature: return "malformed_signature";
    case Verdict::bad_signature: return "bad_signature";
    case Verdict::timestamp_out_of_tolerance: return "timestamp_out_of_tolerance";
    case Verdict::replayed: break;
    }
    return "replayed";
}

std::string_view verdict_message(Verdict v) {
    switch (v) {
    case Verdict::ok: return "signature verified";
    case Verdict::missing_signature: return "the request carries no webhook signature";
    case Verdict::malformed_signature: return "the webhook signature headers cannot be parsed";
    case Verdict::bad_signature: return "the webhook signature does not match the body";
    case Verdict::timestamp_out_of_tolerance: return "the webhook timestamp is outside the accepted window";
    case Verdict::replayed: break;
    }
    return "this webhook was already received";
}

bool scheme_has_timestamp(Scheme scheme) {
    return scheme == Scheme::standard || scheme == Scheme::stripe || scheme == Scheme::slack;
}

int64_t effective_tolerance(const SchemeConfig& cfg) {
    if (cfg.tolerance >= 0) return cfg.tolerance;
    return scheme_has_timestamp(cfg.scheme) ? 300 : 0;
}

std::vector<HeaderFamily> header_families(const SchemeConfig& cfg) {
    auto with_override = [&](HeaderFamily f) {
        if (!cfg.header.empty()) f.signature = cfg.header;
        if (!cfg.id_header.empty()) f.id = cfg.id_header;
        return f;
    };
    switch (cfg.scheme) {
    case Scheme::standard:
        return {with_override({"webhook-signature", "webhook-timestamp", "webhook-id"}),
                with_override({"svix-signature", "svix-timestamp", "svix-id"})};
    case Scheme::github:
        return {with_override({"X-Hub-Signature-256", "", "X-GitHub-Delivery"})};
    case Scheme::stripe:
        return {with_override({"Stripe-Signature", "", ""})};
    case Scheme::slack:
        return {with_override({"X-Slack-Signature", "X-Slack-Request-Timestamp", ""})};
    case Scheme::shopify:
        return {with_override({"X-Shopify-Hmac-Sha256", "", "X-Shopify-Webhook-Id"})};
    case Scheme::hmac: break;
    }
    return {with_override({"X-Signature", "", ""})};
}

std::optional<std::string> derive_key(Scheme scheme, std::string_view secret) {
    if (secret.empty()) return std::nullopt;
    if (scheme == Scheme::standard && starts_with(secret, "whsec_")) {
        auto key = base64_decode(secret.substr(6));
        if (!key || key->empty()) return std::nullopt;
        return key;
    }
    return std::string(secret);
}

SecretKind secret_kind(Scheme scheme, std::string_view secret) {
    if (scheme != Scheme::standard) return SecretKind::hmac;
    if (is_ed25519_public_text(secret)) return SecretKind::ed25519_public;
    if (is_ed25519_secret_text(secret)) return SecretKind::ed25519_secret;
    return SecretKind::hmac;
}

void SignedPrefix::append(std::string_view s) {
    size_t n = std::min(s.size(), kMaxSignedPrefix - size_);
    std::memcpy(bytes_ + size_, s.data(), n);
    size_ += n;
}

namespace {

// What a MAC of `len` bytes looks like in this encoding.
std::string mac_form(Encoding enc, size_t len) {
    if (enc == Encoding::hex) return std::to_string(2 * len) + " hex digits";
    return "the base64 of a " + std::to_string(len) + "-byte HMAC";
}

// The form a signature header must have, for one with no usable MAC.
std::string expected_form(const SchemeConfig& cfg, std::string_view S, size_t digest_len) {
    const std::string s(S);
    switch (cfg.scheme) {
    case Scheme::standard:
        return s + " has no v1,<base64> signature of a 32-byte HMAC-SHA256 nor v1a,<base64> of a 64-byte Ed25519 "
                   "signature";
    case Scheme::stripe: return s + " has no v1= signature of 64 hex digits";
    case Scheme::slack: return s + " must be v0= and 64 hex digits";
    case Scheme::github: return s + " must be sha256= and 64 hex digits";
    case Scheme::shopify: return s + " must be " + mac_form(Encoding::base64, digest_len);
    case Scheme::hmac: break;
    }
    return s + " must be " + (cfg.prefix.empty() ? "" : "\"" + cfg.prefix + "\" and ") + mac_form(cfg.encoding, digest_len);
}

// Calls f on each sep-separated field of s (no allocation, unlike split()).
template <typename F>
void for_each_field(std::string_view s, char sep, F f) {
    for (;;) {
        size_t end = s.find(sep);
        f(s.substr(0, end));
        if (end == std::string_view::npos) return;
        s.remove_prefix(end + 1);
    }
}

Parsed parse_headers(const SchemeConfig& cfg, const std::vector<HeaderFamily>& families, const HeaderValues& h,
                     const HeaderFamily& n, int64_t now) {
    const std::string_view S = n.signature;
    auto str = [](std::string_view v) { return std::string(v); };
    if (!h.signature) {
        // Every name the scheme would have read (webhook-signature or svix-signature).
        std::string names;
        std::string_view previous;
        for (const HeaderFamily& f : families) {
            if (f.signature == previous) continue;   // header= names one for both families
            if (!names.empty()) names += " or ";
            names += f.signature;
            previous = f.signature;
        }
        return refuse(Verdict::missing_signature, "missing " + names + " header");
    }
    std::string_view sig = trim(*h.signature);
    if (sig.empty()) return refuse(Verdict::missing_signature, "empty " + str(S) + " header");
    if (sig.size() > kMaxSignatureHeader)
        return refuse(Verdict::malformed_signature,
                      str(S) + " header is longer than " + std::to_string(kMaxSignatureHeader) + " bytes");

    Parsed p;
    std::string_view ts_text;
    auto ts_name = [&] { return str(n.timestamp) + " header"; };
    bool ts_in_signature = false;   // stripe: t= in the signature header
    const size_t digest_len = hash_alg_size(cfg.scheme == Scheme::hmac ? cfg.alg : HashAlg::sha256);

    // A candidate counts only when it decodes to exactly its size; false
    // when it does not (past kMaxSignatures an entry is not decoded).
    auto add_to = [](Candidates& to, Encoding enc, std::string_view text, size_t size) {
        Digest* d = to.next();
        if (d == nullptr) return true;
        auto len = enc == Encoding::hex ? hex_decode_into(text, d->bytes, sizeof(d->bytes))
                                        : base64_decode_into(text, d->bytes, sizeof(d->bytes));
        if (!len || *len != size) return false;
        d->size = *len;
        to.add();
        return true;
    };
    auto add_candidate = [&](Encoding enc, std::string_view text) {
        return add_to(p.signatures, enc, text, digest_len);
    };

    switch (cfg.scheme) {
    case Scheme::standard: {
        if (!h.id) return refuse(Verdict::malformed_signature, "missing " + str(n.id) + " header");
        if (!h.timestamp) return refuse(Verdict::malformed_signature, "missing " + ts_name());
        if (h.id->empty() || h.id->size() > kMaxIdHeader)
            return refuse(Verdict::malformed_signature,
                          str(n.id) + " header must be 1 to " + std::to_string(kMaxIdHeader) + " bytes");
        ts_text = trim(*h.timestamp);
        // v1,<HMAC> and v1a,<Ed25519 signature>, in any order and mixed;
        // any other version is passed over (as Standard Webhooks' libraries do).
        for_each_field(sig, ' ', [&](std::string_view entry) {
            if (starts_with(entry, "v1,")) {
                if (!add_candidate(Encoding::base64, entry.substr(3))) p.ignored.v1++;
            } else if (starts_with(entry, "v1a,") && p.ed25519.size() < kMaxEd25519Signatures) {
                if (!add_to(p.ed25519, Encoding::base64, entry.substr(4), kEd25519SignatureSize)) p.ignored.v1a++;
            }
        });
        p.replay_id = *h.id;
        break;
    }
    case Scheme::stripe: {
        ts_in_signature = true;
        enum { none, two, empty } error = none;   // the first problem, in header order
        bool seen_t = false;
        for_each_field(sig, ',', [&](std::string_view item) {
            if (error != none) return;
            item = trim(item);
            if (starts_with(item, "t=")) {
                if (seen_t) {
                    error = two;
                    return;
                }
                seen_t = true;
                ts_text = item.substr(2);
                if (ts_text.empty()) error = empty;
            } else if (starts_with(item, "v1=")) {
                add_candidate(Encoding::hex, item.substr(3));
            }
        });
        if (error == two) return refuse(Verdict::malformed_signature, str(S) + " has two t= timestamps");
        if (error == empty) return refuse(Verdict::malformed_signature, str(S) + " has an empty t= timestamp");
        if (ts_text.empty()) return refuse(Verdict::malformed_signature, str(S) + " has no t= timestamp");
        break;
    }
    case Scheme::slack: {
        if (!h.timestamp) return refuse(Verdict::malformed_signature, "missing " + ts_name());
        ts_text = trim(*h.timestamp);
        if (!starts_with(sig, "v0=")) return refuse(Verdict::malformed_signature, str(S) + " must start with v0=");
        add_candidate(Encoding::hex, sig.substr(3));
        break;
    }
    case Scheme::github: {
        if (!starts_with(sig, "sha256=")) return refuse(Verdict::malformed_signature, str(S) + " must start with sha256=");
        add_candidate(Encoding::hex, sig.substr(7));
        break;
    }
    case Scheme::shopify:
        add_candidate(Encoding::base64, sig);
        break;
    case Scheme::hmac: {
        if (!starts_with(sig, cfg.prefix))
            return refuse(Verdict::malformed_signature, str(S) + " must start with \"" + cfg.prefix + "\"");
        add_candidate(cfg.encoding, sig.substr(cfg.prefix.size()));
        break;
    }
    }

    if (p.signatures.empty() && p.ed25519.empty()) {
        // Name the entry that was wrong, when one was (standard only counts them).
        if (p.ignored.v1a > 0 && p.ignored.v1 == 0)
            return refuse(Verdict::malformed_signature,
                          str(S) + " has a v1a entry that is not the base64 of a 64-byte Ed25519 signature");
        if (p.ignored.v1 > 0 && p.ignored.v1a == 0)
            return refuse(Verdict::malformed_signature,
                          str(S) + " has a v1 entry that is not the base64 of a 32-byte HMAC-SHA256");
        return refuse(Verdict::malformed_signature, expected_form(cfg, S, digest_len));
    }

    // Timestamp schemes always check: an empty header is malformed, not "no timestamp".
    if (scheme_has_timestamp(cfg.scheme)) {
        auto name = [&] { return ts_in_signature ? str(S) + " t= timestamp" : ts_name(); };
        std::optional<int64_t> ts = parse_unix(ts_text);
        if (!ts) return refuse(Verdict::malformed_signature, name() + " must be Unix seconds");
        int64_t tolerance = effective_tolerance(cfg);
        int64_t skew = now > *ts ? now - *ts : *ts - now;
        if (tolerance > 0 && skew > tolerance)
            return refuse(Verdict::timestamp_out_of_tolerance,
                          name() + " is more than " + std::to_string(tolerance) + " seconds from the server's clock");
    }

    // The signed prefix, from values now known to be bounded (an id of at
    // most kMaxIdHeader bytes, a timestamp of at most kMaxTimestamp digits).
    switch (cfg.scheme) {
    case Scheme::standard:
        p.signed_prefix.append(*h.id);
        p.signed_prefix.append(".");
        p.signed_prefix.append(ts_text);
        p.signed_prefix.append(".");
        break;
    case Scheme::stripe:
        p.signed_prefix.append(ts_text);
        p.signed_prefix.append(".");
        break;
    case Scheme::slack:
        p.signed_prefix.append("v0:");
        p.signed_prefix.append(ts_text);
        p.signed_prefix.append(":");
        break;
    default: break;
    }

    // Only `standard` has an id the sender signs (webhook-id). Every other
    // scheme is identified by the MAC that matched (the caller knows it once
    // the body is hashed): a header the sender did not sign, or another
    // spelling of the same MAC, must never make a message new.
    return p;
}

}  // namespace

Parsed parse_request(const SchemeConfig& cfg, const std::vector<HeaderFamily>& families, const HeaderValues& h,
                     int64_t now) {
    HeaderFamily names = h.names.signature.empty() ? families.front() : h.names;
    Parsed p = parse_headers(cfg, families, h, names, now);
    p.names = names;
    return p;
}

Parsed parse_request(const SchemeConfig& cfg, const HeaderValues& h, int64_t now) {
    return parse_request(cfg, header_families(cfg), h, now);
}

std::string verdict_detail(const SchemeConfig& cfg, const HeaderFamily& n, Verdict v) {
    std::string S(n.signature);
    if (v == Verdict::replayed) {
        return cfg.scheme == Scheme::standard ? "a webhook with this " + std::string(n.id) + " was already received"
                                              : "a webhook with this signature was already received";
    }
    if (v != Verdict::bad_signature) return std::string(verdict_message(v));
    const char* why = " (signed with another secret, or the body was changed)";
    switch (cfg.scheme) {
    case Scheme::standard:
        return "no signature in " + S + " matches " + std::string(n.id) + ", " + std::string(n.timestamp) +
               " and the body" + why;
    case Scheme::stripe: return "no v1= signature in " + S + " matches t= and the body" + why;
    case Scheme::slack: return S + " does not match " + std::string(n.timestamp) + " and the body" + why;
    default: break;
    }
    return S + " does not match the body" + why;
}

std::string verdict_detail(const SchemeConfig& cfg, const HeaderFamily& n, Verdict v, EntryCounts ignored) {
    std::string out = verdict_detail(cfg, n, v);
    if (v != Verdict::bad_signature || cfg.scheme != Scheme::standard) return out;
    auto passed_over = [&](uint16_t count, const char* what) {
        out += count == 1 ? "; a " : "; " + std::to_string(count) + " ";
        out += what;
        out += count == 1 ? " entry is" : " entries are";
        out += " not the base64 of a ";
    };
    if (ignored.v1 > 0) {
        passed_over(ignored.v1, "v1");
        out += "32-byte HMAC-SHA256";
    }
    if (ignored.v1a > 0) {
        passed_over(ignored.v1a, "v1a");
        out += "64-byte Ed25519 signature";
    }
    return out;
}

std::string unverifiable_detail(const HeaderFamily& n, bool has_v1, bool has_v1a) {
    std::string S(n.signature);
    if (has_v1a && !has_v1)
        return S + " has v1a (Ed25519) signatures only, and this receiver checks v1 (HMAC-SHA256) signatures";
    if (has_v1 && !has_v1a)
        return S + " has v1 (HMAC-SHA256) signatures only, and this receiver checks v1a (Ed25519) signatures";
    return S + " has no signature of a kind this receiver checks";
}

std::string ed25519_too_large_detail(size_t limit) {
    return "the body is larger than the " + std::to_string(limit) +
           " bytes this receiver checks a v1a (Ed25519) signature over";
}

bool signature_matches(const Digest* candidates, size_t n, std::string_view digest) {
    bool match = false;
    for (size_t i = 0; i < n; i++) match |= constant_time_equal(candidates[i], digest);
    return match;
}

Digest replay_key_id(std::string_view key) {
    Sha256 h;
    h.update(key);
    return h.finish();
}

Digest replay_key(Scheme scheme, const Digest& key_id, std::string_view id) {
    Sha256 h;
    h.update(scheme_name(scheme));
    h.update("", 1);   // the scheme's name ends here
    h.update(key_id);
    h.update(id);
    return h.finish();
}

}  // namespace webhook
