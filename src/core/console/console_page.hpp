// The management console's page (docs/console.md): which URIs it
// may be pointed at, and its index.html filled in for one location.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace webhook {

constexpr size_t kMaxConsoleUri = 1024;

// Why `uri` cannot be a URI the console's page refers to (api=, or the
// console's own location), or nullopt when it can: an absolute path on the
// page's own origin — it starts with one "/" (never "//" nor "/\", which a
// browser reads as another host), holds only RFC 3986 path characters (no
// query, fragment, spaces or quotes; "%" followed by two hex digits), has no
// "." or ".." segment, and is at most kMaxConsoleUri bytes.
std::optional<std::string> console_uri_problem(std::string_view uri);

// `uri` with a "/" at its end (the routes and assets are joined to it).
std::string with_trailing_slash(std::string_view uri);

// Text safe inside a double-quoted HTML attribute value and in element
// content: & < > " ' as character references.
std::string html_escape(std::string_view text);

// The index page: `tmpl` with every {{BASE}} (the console's location, where
// its assets are) and {{API}} (the webhook_api location) replaced by the
// escaped values.
std::string console_index(std::string_view tmpl, std::string_view base, std::string_view api);

}  // namespace webhook
