#include "core/util/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace webhook {

namespace {

const char* digest_name(HashAlg alg) {
    switch (alg) {
    case HashAlg::sha1: return "SHA1";
    case HashAlg::sha512: return "SHA512";
    case HashAlg::sha256: break;
    }
    return "SHA256";
}

// Fetched once per process; OpenSSL keeps it alive until exit.
EVP_MAC* hmac_algorithm() {
    static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) throw std::runtime_error("HMAC is not available in OpenSSL");
    return mac;
}

}  // namespace

std::optional<HashAlg> hash_alg_from_name(std::string_view name) {
    if (name == "sha256") return HashAlg::sha256;
    if (name == "sha1") return HashAlg::sha1;
    if (name == "sha512") return HashAlg::sha512;
    return std::nullopt;
}

std::string_view hash_alg_name(HashAlg alg) {
    switch (alg) {
    case HashAlg::sha1: return "sha1";
    case HashAlg::sha512: return "sha512";
    case HashAlg::sha256: break;
    }
    return "sha256";
}

size_t hash_alg_size(HashAlg alg) {
    switch (alg) {
    case HashAlg::sha1: return 20;
    case HashAlg::sha512: return 64;
    case HashAlg::sha256: break;
    }
    return 32;
}

void Hmac::Free::operator()(evp_mac_ctx_st* ctx) const { EVP_MAC_CTX_free(ctx); }

Hmac::Hmac(HashAlg alg, std::string_view key) : alg_(alg), ctx_(EVP_MAC_CTX_new(hmac_algorithm())) {
    if (!ctx_) throw std::runtime_error("EVP_MAC_CTX_new failed");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(alg)), 0),
        OSSL_PARAM_construct_end(),
    };
    // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
    static const unsigned char empty = 0;
    const auto* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
    if (EVP_MAC_init(ctx_.get(), k, key.size(), params) != 1) throw std::runtime_error("EVP_MAC_init failed");
}

Hmac Hmac::clone() const {
    evp_mac_ctx_st* copy = EVP_MAC_CTX_dup(ctx_.get());
    if (copy == nullptr) throw std::runtime_error("EVP_MAC_CTX_dup failed");
    return Hmac(alg_, copy);
}

void Hmac::update(const void* data, size_t len) {
    if (len == 0) return;
    if (EVP_MAC_update(ctx_.get(), static_cast<const unsigned char*>(data), len) != 1)
        throw std::runtime_error("EVP_MAC_update failed");
}

std::string Hmac::finish() {
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (EVP_MAC_final(ctx_.get(), out, &len, sizeof(out)) != 1) throw std::runtime_error("EVP_MAC_final failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string hmac(HashAlg alg, std::string_view key, std::string_view data) {
    Hmac h(alg, key);
    h.update(data);
    return h.finish();
}

std::string sha256(std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("EVP_Digest failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return out;
}

}  // namespace webhook
