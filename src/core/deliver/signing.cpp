#include "core/deliver/signing.hpp"

#include "core/util/encoding.hpp"

namespace webhook {

std::string generate_endpoint_secret() { return "whsec_" + base64_encode(random_bytes(24)); }

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

std::string body_signature(HashAlg alg, std::string_view key, std::string_view body, Encoding enc,
                           std::string_view prefix) {
    std::string mac = hmac(alg, key, body);
    return std::string(prefix) + (enc == Encoding::hex ? hex_encode(mac) : base64_encode(mac));
}

}  // namespace webhook
