#include "core/console/console_page.hpp"

#include "core/util/encoding.hpp"
#include "core/util/text.hpp"

#include <cstring>
#include <utility>

namespace webhook {

namespace {

// RFC 3986 pchar and "/", less "'" (no location needs one, and the page
// would have to carry it escaped).
bool path_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && std::strchr("-._~!$&()*+,;=:@/", c) != nullptr;
}

}  // namespace

std::optional<std::string> console_uri_problem(std::string_view uri) {
    if (uri.empty() || uri.front() != '/') return "must be a path on this server, starting with \"/\"";
    if (uri.size() > 1 && (uri[1] == '/' || uri[1] == '\\'))
        return "must not start with \"//\": a browser reads that as another host";
    if (uri.size() > kMaxConsoleUri) return "is longer than " + std::to_string(kMaxConsoleUri) + " bytes";
    for (size_t i = 0; i < uri.size(); i++) {
        char c = uri[i];
        if (c == '%') {
            if (i + 2 >= uri.size() || !hex_decode(uri.substr(i + 1, 2)))
                return "has a \"%\" not followed by two hex digits";
            i += 2;
        } else if (!path_char(c)) {
            return "may only hold letters, digits, \"/\" and - . _ ~ ! $ & ( ) * + , ; = : @ %XX (no query or fragment)";
        }
    }
    for (std::string_view seg : split(uri.substr(1), '/'))
        if (seg == "." || seg == "..") return "must not contain \".\" or \"..\" segments";
    return std::nullopt;
}

std::string with_trailing_slash(std::string_view uri) {
    std::string out(uri);
    if (out.empty() || out.back() != '/') out += '/';
    return out;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string console_index(std::string_view tmpl, std::string_view base, std::string_view api) {
    // One pass: a value that holds a placeholder is not filled in again.
    const std::pair<std::string_view, std::string> values[] = {{"{{BASE}}", html_escape(base)},
                                                               {"{{API}}", html_escape(api)}};
    std::string out;
    size_t at = 0;
    for (size_t open; (open = tmpl.find("{{", at)) != std::string_view::npos;) {
        out.append(tmpl.substr(at, open - at));
        at = open + 2;
        std::string_view filled = "{{";
        for (const auto& [name, value] : values) {
            if (tmpl.substr(open, name.size()) != name) continue;
            filled = value;
            at = open + name.size();
        }
        out.append(filled);
    }
    out.append(tmpl.substr(at));
    return out;
}

}  // namespace webhook
