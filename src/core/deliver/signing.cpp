#include "core/deliver/signing.hpp"

#include "core/util/ed25519.hpp"
#include "core/util/encoding.hpp"

namespace webhook {

std::optional<Signing> signing_from_name(std::string_view name) {
    if (name == "hmac") return Signing::hmac;
    if (name == "ed25519") return Signing::ed25519;
    return std::nullopt;
}

std::string_view signing_name(Signing s) { return s == Signing::ed25519 ? "ed25519" : "hmac"; }

Signing signing_of(std::string_view secret) {
    return is_ed25519_secret_text(secret) ? Signing::ed25519 : Signing::hmac;
}

std::string generate_endpoint_secret(Signing kind) {
    if (kind == Signing::ed25519) return Ed25519Key::generate().secret_text();
    return "whsec_" + base64_encode(random_bytes(24));
}

std::optional<std::string> endpoint_public_key(std::string_view secret) {
    if (signing_of(secret) != Signing::ed25519) return std::nullopt;
    auto key = Ed25519Key::from_secret(secret);
    if (!key) return std::nullopt;
    return key->public_text();
}

std::string endpoint_key(std::string_view secret) {
    auto key = derive_key(Scheme::standard, secret);
    return key ? *key : std::string(secret);
}

std::string standard_signature(const std::vector<std::string>& keys, std::string_view msg_id, int64_t timestamp,
                               std::string_view body) {
    std::string out;
    std::string ts = std::to_string(timestamp);
    for (const std::string& key : keys) {
        Hmac h(HashAlg::sha256, key);
        h.update(msg_id);
        h.update(".");
        h.update(ts);
        h.update(".");
        h.update(body);
        if (!out.empty()) out.push_back(' ');
        out += "v1," + base64_encode(h.finish());
    }
    return out;
}

std::optional<std::string> endpoint_signature(const std::vector<std::string>& secrets, std::string_view msg_id,
                                              int64_t timestamp, std::string_view body) {
    std::string out, message;
    for (const std::string& secret : secrets) {
        if (!out.empty()) out.push_back(' ');
        if (signing_of(secret) == Signing::hmac) {
            out += standard_signature({endpoint_key(secret)}, msg_id, timestamp, body);
            continue;
        }
        auto key = Ed25519Key::from_secret(secret);
        if (!key) return std::nullopt;
        if (message.empty()) {   // PureEdDSA signs the whole message at once
            message.reserve(msg_id.size() + 22 + body.size());
            message.append(msg_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
        }
        Ed25519Signature sig;
        if (!key->sign(message, &sig)) return std::nullopt;
        out += "v1a," + base64_encode(std::string_view(reinterpret_cast<const char*>(sig.data()), sig.size()));
    }
    return out;
}

std::string body_signature(HashAlg alg, std::string_view key, std::string_view body, Encoding enc,
                           std::string_view prefix) {
    std::string mac = hmac(alg, key, body);
    return std::string(prefix) + (enc == Encoding::hex ? hex_encode(mac) : base64_encode(mac));
}

}  // namespace webhook
