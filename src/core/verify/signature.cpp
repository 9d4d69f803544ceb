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

Parsed parse_request(const SchemeConfig& cfg, const HeaderValues& h, int64_t now) {
    if (!h.signature) return refuse(Verdict::missing_signature, "signature header missing");
    std::string_view sig = trim(*h.signature);
    if (sig.empty()) return refuse(Verdict::missing_signature, "signature header empty");
    if (sig.size() > kMaxSignatureHeader) return refuse(Verdict::malformed_signature, "signature header too long");

    Parsed p;
    std::optional<int64_t> ts;
    std::string_view ts_text;
    const size_t digest_len = hash_alg_size(cfg.scheme == Scheme::hmac ? cfg.alg : HashAlg::sha256);

    auto add_candidate = [&](std::optional<std::string> mac) {
        if (mac && mac->size() == digest_len && p.signatures.size() < kMaxSignatures)
            p.signatures.push_back(std::move(*mac));
    };

    switch (cfg.scheme) {
    case Scheme::standard: {
        if (!h.id) return refuse(Verdict::malformed_signature, "webhook-id header missing");
        if (!h.timestamp) return refuse(Verdict::malformed_signature, "webhook-timestamp header missing");
        if (h.id->empty() || h.id->size() > kMaxIdHeader)
            return refuse(Verdict::malformed_signature, "webhook-id header invalid");
        ts_text = trim(*h.timestamp);
        for (std::string_view entry : split(sig, ' ')) {
            if (starts_with(entry, "v1,")) add_candidate(base64_decode(entry.substr(3)));
        }
        p.replay_id = std::string(*h.id);
        p.signed_prefix.append(*h.id).append(".").append(ts_text).append(".");
        break;
    }
    case Scheme::stripe: {
        for (std::string_view item : split(sig, ',')) {
            item = trim(item);
            if (starts_with(item, "t=")) {
                if (!ts_text.empty()) return refuse(Verdict::malformed_signature, "Stripe-Signature has two timestamps");
                ts_text = item.substr(2);
                if (ts_text.empty()) return refuse(Verdict::malformed_signature, "Stripe-Signature timestamp empty");
            } else if (starts_with(item, "v1=")) {
                add_candidate(hex_decode(item.substr(3)));
            }
        }
        if (ts_text.empty()) return refuse(Verdict::malformed_signature, "Stripe-Signature has no timestamp");
        p.signed_prefix.append(ts_text).append(".");
        break;
    }
    case Scheme::slack: {
        if (!h.timestamp) return refuse(Verdict::malformed_signature, "X-Slack-Request-Timestamp header missing");
        ts_text = trim(*h.timestamp);
        if (!starts_with(sig, "v0=")) return refuse(Verdict::malformed_signature, "X-Slack-Signature lacks v0=");
        add_candidate(hex_decode(sig.substr(3)));
        p.signed_prefix.append("v0:").append(ts_text).append(":");
        break;
    }
    case Scheme::github: {
        if (!starts_with(sig, "sha256=")) return refuse(Verdict::malformed_signature, "X-Hub-Signature-256 lacks sha256=");
        add_candidate(hex_decode(sig.substr(7)));
        break;
    }
    case Scheme::shopify:
        add_candidate(base64_decode(sig));
        break;
    case Scheme::hmac: {
        if (!starts_with(sig, cfg.prefix)) return refuse(Verdict::malformed_signature, "signature prefix missing");
        add_candidate(decode(cfg.encoding, sig.substr(cfg.prefix.size())));
        break;
    }
    }

    if (p.signatures.empty()) return refuse(Verdict::malformed_signature, "no signature of the expected form");

    // Timestamp schemes always check: an empty header is malformed, not "no timestamp".
    if (scheme_has_timestamp(cfg.scheme)) {
        ts = parse_unix(ts_text);
        if (!ts) return refuse(Verdict::malformed_signature, "timestamp is not unix seconds");
        int64_t tolerance = effective_tolerance(cfg);
        int64_t skew = now > *ts ? now - *ts : *ts - now;
        if (tolerance > 0 && skew > tolerance)
            return refuse(Verdict::timestamp_out_of_tolerance, "timestamp too old or too far in the future");
    }

    // Only `standard` has an id the sender signs (webhook-id). Every other
    // scheme is identified by the MAC that matched (the caller knows it once
    // the body is hashed): a header the sender did not sign, or another
    // spelling of the same MAC, must never make a message new.
    return p;
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
