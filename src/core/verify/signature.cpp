#include "core/verify/signature.hpp"

#include "core/util/encoding.hpp"
#include "core/util/text.hpp"

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

std::optional<std::string> decode(Encoding enc, std::string_view text) {
    return enc == Encoding::hex ? hex_decode(text) : base64_decode(text);
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

namespace {

// What a MAC of `len` bytes looks like in this encoding.
std::string mac_form(Encoding enc, size_t len) {
    if (enc == Encoding::hex) return std::to_string(2 * len) + " hex digits";
    return "the base64 of a " + std::to_string(len) + "-byte HMAC";
}

Parsed parse_headers(const SchemeConfig& cfg, const std::vector<HeaderFamily>& families, const HeaderValues& h,
                     const HeaderFamily& n, int64_t now) {
    const std::string S(n.signature);
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
    if (sig.empty()) return refuse(Verdict::missing_signature, "empty " + S + " header");
    if (sig.size() > kMaxSignatureHeader)
        return refuse(Verdict::malformed_signature,
                      S + " header is longer than " + std::to_string(kMaxSignatureHeader) + " bytes");

    Parsed p;
    std::optional<int64_t> ts;
    std::string_view ts_text;
    std::string ts_name = std::string(n.timestamp) + " header";
    std::string expected;   // the form a signature must have, for a header with none of it
    const size_t digest_len = hash_alg_size(cfg.scheme == Scheme::hmac ? cfg.alg : HashAlg::sha256);

    auto add_candidate = [&](std::optional<std::string> mac) {
        if (mac && mac->size() == digest_len && p.signatures.size() < kMaxSignatures)
            p.signatures.push_back(std::move(*mac));
    };

    switch (cfg.scheme) {
    case Scheme::standard: {
        if (!h.id) return refuse(Verdict::malformed_signature, "missing " + std::string(n.id) + " header");
        if (!h.timestamp) return refuse(Verdict::malformed_signature, "missing " + ts_name);
        if (h.id->empty() || h.id->size() > kMaxIdHeader)
            return refuse(Verdict::malformed_signature,
                          std::string(n.id) + " header must be 1 to " + std::to_string(kMaxIdHeader) + " bytes");
        ts_text = trim(*h.timestamp);
        for (std::string_view entry : split(sig, ' ')) {
            if (starts_with(entry, "v1,")) add_candidate(base64_decode(entry.substr(3)));
        }
        expected = S + " has no v1,<base64> signature of a 32-byte HMAC-SHA256";
        p.replay_id = std::string(*h.id);
        p.signed_prefix.append(*h.id).append(".").append(ts_text).append(".");
        break;
    }
    case Scheme::stripe: {
        ts_name = S + " t= timestamp";
        for (std::string_view item : split(sig, ',')) {
            item = trim(item);
            if (starts_with(item, "t=")) {
                if (!ts_text.empty()) return refuse(Verdict::malformed_signature, S + " has two t= timestamps");
                ts_text = item.substr(2);
                if (ts_text.empty()) return refuse(Verdict::malformed_signature, S + " has an empty t= timestamp");
            } else if (starts_with(item, "v1=")) {
                add_candidate(hex_decode(item.substr(3)));
            }
        }
        if (ts_text.empty()) return refuse(Verdict::malformed_signature, S + " has no t= timestamp");
        expected = S + " has no v1= signature of 64 hex digits";
        p.signed_prefix.append(ts_text).append(".");
        break;
    }
    case Scheme::slack: {
        if (!h.timestamp) return refuse(Verdict::malformed_signature, "missing " + ts_name);
        ts_text = trim(*h.timestamp);
        if (!starts_with(sig, "v0=")) return refuse(Verdict::malformed_signature, S + " must start with v0=");
        add_candidate(hex_decode(sig.substr(3)));
        expected = S + " must be v0= and 64 hex digits";
        p.signed_prefix.append("v0:").append(ts_text).append(":");
        break;
    }
    case Scheme::github: {
        if (!starts_with(sig, "sha256=")) return refuse(Verdict::malformed_signature, S + " must start with sha256=");
        add_candidate(hex_decode(sig.substr(7)));
        expected = S + " must be sha256= and 64 hex digits";
        break;
    }
    case Scheme::shopify:
        add_candidate(base64_decode(sig));
        expected = S + " must be " + mac_form(Encoding::base64, digest_len);
        break;
    case Scheme::hmac: {
        if (!starts_with(sig, cfg.prefix))
            return refuse(Verdict::malformed_signature, S + " must start with \"" + cfg.prefix + "\"");
        add_candidate(decode(cfg.encoding, sig.substr(cfg.prefix.size())));
        expected = S + " must be " + (cfg.prefix.empty() ? "" : "\"" + cfg.prefix + "\" and ") +
                   mac_form(cfg.encoding, digest_len);
        break;
    }
    }

    if (p.signatures.empty()) return refuse(Verdict::malformed_signature, expected);

    // Timestamp schemes always check: an empty header is malformed, not "no timestamp".
    if (scheme_has_timestamp(cfg.scheme)) {
        ts = parse_unix(ts_text);
        if (!ts) return refuse(Verdict::malformed_signature, ts_name + " must be Unix seconds");
        int64_t tolerance = effective_tolerance(cfg);
        int64_t skew = now > *ts ? now - *ts : *ts - now;
        if (tolerance > 0 && skew > tolerance)
            return refuse(Verdict::timestamp_out_of_tolerance,
                          ts_name + " is more than " + std::to_string(tolerance) + " seconds from the server's clock");
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

std::string verdict_detail(const SchemeConfig& cfg, const Parsed& parsed, Verdict v) {
    const HeaderFamily& n = parsed.names;
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

bool signature_matches(const std::vector<std::string>& candidates, std::string_view digest) {
    bool match = false;
    for (const auto& c : candidates) match |= constant_time_equal(c, digest);
    return match;
}

std::string replay_key(Scheme scheme, std::string_view key, std::string_view id) {
    std::string material(scheme_name(scheme));
    material.push_back('\0');
    material.append(sha256(key));
    material.append(id);
    return sha256(material);
}

}  // namespace webhook
