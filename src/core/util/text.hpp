// Small string helpers the core and the glue share.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace webhook {

inline bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
// Equal ignoring ASCII case; `lower` is given in lowercase.
bool ascii_iequals(std::string_view a, std::string_view lower);
std::vector<std::string_view> split(std::string_view s, char sep);
// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

// A string any header or log line can carry: printable, no CR/LF/NUL.
bool header_safe(std::string_view s);

// Uniform base62 characters from RAND_bytes (rejection sampling, no bias).
std::string random_base62(size_t n);

}  // namespace webhook
