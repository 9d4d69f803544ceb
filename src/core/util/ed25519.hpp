// Ed25519 (RFC 8032, PureEdDSA) through OpenSSL's EVP, and the key forms of
// Standard Webhooks' asymmetric scheme: "whpk_" + base64 of the 32-byte
// public key, "whsk_" + base64 of the secret key (the 32-byte seed, or the
// 64 bytes seed || public key that libsodium and tweetnacl write).
//
// PureEdDSA hashes the message twice, so it cannot be computed as the bytes
// arrive: a signature is made or checked over the whole message at once.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace webhook {

constexpr size_t kEd25519KeySize = 32;
constexpr size_t kEd25519SignatureSize = 64;

using Ed25519Signature = std::array<unsigned char, kEd25519SignatureSize>;

// A key parsed once (at configuration time, or when an endpoint is claimed);
// movable, the OpenSSL key freed with it.
class Ed25519Key {
public:
    // "whpk_<base64>": nullopt when the text is not a public key.
    static std::optional<Ed25519Key> from_public(std::string_view whpk);
    // "whsk_<base64>": nullopt when the text is not a secret key (or its
    // 64-byte form names a public key that is not the seed's).
    static std::optional<Ed25519Key> from_secret(std::string_view whsk);
    // A new key pair from RAND_bytes (throws std::bad_alloc, or
    // std::runtime_error when OpenSSL fails).
    static Ed25519Key generate();

    bool has_secret() const { return secret_; }
    // "whpk_<base64>" of the public key.
    std::string public_text() const;
    // "whsk_<base64>" of the 32-byte seed (only for a key with its secret).
    std::string secret_text() const;

    // The signature of message: false when OpenSSL fails or this key has no
    // secret.
    bool sign(std::string_view message, Ed25519Signature* out) const;
    // Whether sig is this key's signature of message (OpenSSL checks the
    // encoding; never throws).
    bool verify(std::string_view message, const unsigned char* sig, size_t sig_len) const noexcept;

    Ed25519Key(Ed25519Key&&) noexcept = default;
    Ed25519Key& operator=(Ed25519Key&&) noexcept = default;
    ~Ed25519Key() = default;

private:
    struct Free {
        void operator()(void* p) const noexcept;
    };
    Ed25519Key(void* pkey, bool secret) : pkey_(pkey), secret_(secret) {}
    std::unique_ptr<void, Free> pkey_;   // EVP_PKEY*
    bool secret_ = false;
};

// Whether the text has a key prefix of the asymmetric scheme (so that a
// secret= or an endpoint secret is taken as Ed25519, not as HMAC key bytes).
inline bool is_ed25519_public_text(std::string_view s) { return s.substr(0, 5) == "whpk_"; }
inline bool is_ed25519_secret_text(std::string_view s) { return s.substr(0, 5) == "whsk_"; }

}  // namespace webhook
