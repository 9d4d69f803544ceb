#include "core/util/ed25519.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

#include "core/util/encoding.hpp"

namespace webhook {

namespace {


// Decodes "<prefix><base64>" into out; the decoded size, or 0.
size_t decode_key_text(std::string_view text, std::string_view prefix, unsigned char* out, size_t cap) {
    if (text.substr(0, prefix.size()) != prefix) return 0;
    auto n = base64_decode_into(text.substr(prefix.size()), out, cap);
    return n ? *n : 0;
}

struct CtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

}  // namespace

void Ed25519Key::Free::operator()(void* p) const noexcept { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); }

std::optional<Ed25519Key> Ed25519Key::from_public(std::string_view whpk) {
    unsigned char raw[kEd25519KeySize + 1];
    if (decode_key_text(whpk, "whpk_", raw, sizeof raw) != kEd25519KeySize) return std::nullopt;
    EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw, kEd25519KeySize);
    if (k == nullptr) return std::nullopt;
    return Ed25519Key(k, false);
}

std::optional<Ed25519Key> Ed25519Key::from_secret(std::string_view whsk) {
    unsigned char raw[2 * kEd25519KeySize + 1];
    size_t n = decode_key_text(whsk, "whsk_", raw, sizeof raw);
    std::optional<Ed25519Key> out;
    if (n == kEd25519KeySize || n == 2 * kEd25519KeySize) {
        EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw, kEd25519KeySize);
        if (k != nullptr) {
            out.emplace(Ed25519Key(k, true));
            if (n == 2 * kEd25519KeySize) {   // seed || public key: the two must agree
                unsigned char pub[kEd25519KeySize];
                size_t len = sizeof pub;
                if (EVP_PKEY_get_raw_public_key(k, pub, &len) != 1 || len != kEd25519KeySize ||
                    CRYPTO_memcmp(pub, raw + kEd25519KeySize, kEd25519KeySize) != 0)
                    out.reset();
            }
        }
    }
    OPENSSL_cleanse(raw, sizeof raw);
    return out;
}

Ed25519Key Ed25519Key::generate() {
    unsigned char seed[kEd25519KeySize];
    if (RAND_bytes(seed, sizeof seed) != 1) throw std::runtime_error("RAND_bytes failed");
    EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, sizeof seed);
    OPENSSL_cleanse(seed, sizeof seed);
    if (k == nullptr) throw std::runtime_error("EVP_PKEY_new_raw_private_key(ED25519) failed");
    return Ed25519Key(k, true);
}

std::string Ed25519Key::public_text() const {
    unsigned char pub[kEd25519KeySize];
    size_t len = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(static_cast<EVP_PKEY*>(pkey_.get()), pub, &len) != 1 || len != sizeof pub)
        throw std::runtime_error("EVP_PKEY_get_raw_public_key failed");
    return "whpk_" + base64_encode(std::string_view(reinterpret_cast<const char*>(pub), len));
}

std::string Ed25519Key::secret_text() const {
    if (!secret_) throw std::logic_error("an Ed25519 public key has no secret");
    unsigned char seed[kEd25519KeySize];
    size_t len = sizeof seed;
    if (EVP_PKEY_get_raw_private_key(static_cast<EVP_PKEY*>(pkey_.get()), seed, &len) != 1 || len != sizeof seed)
        throw std::runtime_error("EVP_PKEY_get_raw_private_key failed");
    std::string out = "whsk_" + base64_encode(std::string_view(reinterpret_cast<const char*>(seed), len));
    OPENSSL_cleanse(seed, sizeof seed);
    return out;
}

bool Ed25519Key::sign(std::string_view message, Ed25519Signature* out) const {
    if (!secret_) return false;
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    size_t len = out->size();
    return EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_.get())) == 1 &&
           EVP_DigestSign(ctx.get(), out->data(), &len, reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1 &&
           len == out->size();
}

bool Ed25519Key::verify(std::string_view message, const unsigned char* sig, size_t sig_len) const noexcept {
    if (sig_len != kEd25519SignatureSize) return false;
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    return EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_.get())) == 1 &&
           EVP_DigestVerify(ctx.get(), sig, sig_len, reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
}

}  // namespace webhook
