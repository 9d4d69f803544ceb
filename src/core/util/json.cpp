#include "core/util/json.hpp"

#include <cstdlib>
#include <new>

namespace webhook {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629, as jansson's
// encoder checks it: no overlongs, surrogates or code points past U+10FFFF);
// 0 when the byte there does not start one.
size_t utf8_sequence(std::string_view s, size_t i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    for (size_t k = 1; k < n; k++) {
        unsigned char d = static_cast<unsigned char>(s[i + k]);
        if ((d & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

}  // namespace

std::string json_dump(const json_t* j) {
    char* text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == nullptr) throw std::bad_alloc();
    std::string out(text);
    std::free(text);
    return out;
}

Json json_parse(std::string_view text, std::string* error) {
    json_error_t err;
    Json j(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err));
    if (!j && error != nullptr) {
        // jansson quotes the text it stopped at ("near '...'"): that may be
        // part of a secret, so only the reason and the position are kept.
        std::string_view reason = err.text;
        size_t near = reason.find(" near ");
        if (near != std::string_view::npos) reason = reason.substr(0, near);
        *error = std::string(reason) + " at line " + std::to_string(err.line) + ", column " + std::to_string(err.column);
    }
    return j;
}

std::string_view json_str_field(const json_t* obj, const char* key) {
    json_t* v = json_object_get(obj, key);
    return json_is_string(v) ? json_sv(v) : std::string_view();
}

int64_t json_int_field(const json_t* obj, const char* key, int64_t dflt) {
    json_t* v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool json_bool_field(const json_t* obj, const char* key, bool dflt) {
    json_t* v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

std::optional<ApiError> reject_unknown_fields(const json_t* obj, std::initializer_list<const char*> known) {
    const char* key;
    json_t* value;
    json_object_foreach(const_cast<json_t*>(obj), key, value) {
        bool ok = false;
        for (const char* k : known) ok |= std::string_view(k) == key;
        if (!ok) return invalid_request(std::string("unknown field \"") + key + "\"");
    }
    return std::nullopt;
}

std::string utf8_sanitize(std::string_view value, bool* replaced_out) {
    std::string fixed;
    bool replaced = false;
    for (size_t i = 0; i < value.size();) {
        size_t n = utf8_sequence(value, i);
        if (n == 0 && !replaced) {
            replaced = true;
            fixed.assign(value.substr(0, i));
        }
        if (n == 0) fixed.append("\xef\xbf\xbd");
        else if (replaced) fixed.append(value.substr(i, n));
        i += n == 0 ? 1 : n;
    }
    if (replaced_out != nullptr) *replaced_out = replaced;
    return replaced ? fixed : std::string(value);
}

bool utf8_valid(std::string_view value) {
    for (size_t i = 0; i < value.size();) {
        size_t n = utf8_sequence(value, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string_view json_repaired(std::string_view value, std::string& scratch) {
    // JSON text is UTF-8, and json_dump fails (throws) on a string that is not:
    // a byte outside a well-formed sequence (a response excerpt cut mid-character
    // or in Latin-1, a header value) becomes U+FFFD. So does NUL: json_parse
    // refuses it, and what is written must parse again (journal records,
    // attempt logs).
    if (utf8_valid(value) && value.find('\0') == std::string_view::npos) return value;
    scratch = utf8_sanitize(value, nullptr);
    for (size_t i = scratch.find('\0'); i != std::string::npos; i = scratch.find('\0', i))
        scratch.replace(i, 1, "\xef\xbf\xbd");
    return scratch;
}

void json_set_str(json_t* obj, const char* key, std::string_view value) {
    std::string scratch;
    value = json_repaired(value, scratch);
    json_t* s = value.empty() ? json_string("") : json_stringn_nocheck(value.data(), value.size());
    if (s == nullptr || json_object_set_new(obj, key, s) != 0) throw std::bad_alloc();
}

void json_quote(std::string& out, std::string_view s) {
    // json_dump's escapes (the journal's direct writers must produce its very
    // bytes): \b \f \n \r \t, other controls as \u00XX; runs that need no
    // escape are appended whole.
    static const char hex[] = "0123456789ABCDEF";
    std::string clean;
    if (!utf8_valid(s)) {   // JSON text is UTF-8: a stray byte becomes U+FFFD
        clean = utf8_sanitize(s);
        s = clean;
    }
    out.push_back('"');
    size_t run = 0;
    for (size_t i = 0; i < s.size(); i++) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

std::string error_json(std::string_view code, std::string_view message) {
    std::string out = "{\"error\":{\"code\":";
    json_quote(out, code);
    out += ",\"message\":";
    json_quote(out, message);
    out += "}}";
    return out;
}

}  // namespace webhook
