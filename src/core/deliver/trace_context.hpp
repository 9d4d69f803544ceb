// W3C Trace Context (level 1, https://www.w3.org/TR/trace-context/): the
// `traceparent` and `tracestate` request headers a publisher sends with an
// event, checked and put in the form the event keeps and every attempt of
// its deliveries sends (docs/delivery.md#trace-context).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace webhook {

// "00-" 32 hex "-" 16 hex "-" 2 hex: the form a traceparent is kept and sent in.
constexpr size_t kTraceparentSize = 55;
// What a tracestate may hold: all its header fields together, as received.
constexpr size_t kMaxTracestate = 512;
constexpr size_t kMaxTracestateMembers = 32;

// The traceparent to keep for a header value, in version 00's form, or
// nullopt with *why (a constant phrase: what is wrong, never the value).
// Spaces and tabs around the value are ignored. Version 00 is exactly 55
// characters. A later version (01 to fe) is read as the specification
// says: its first 55 characters in version 00's layout, followed by the
// end or a "-" (fields after that are not looked at), and kept as version
// 00 with only the sampled flag (the other bits of a later version's flags
// are not known). Version ff, upper-case hex and all-zero ids are refused.
std::optional<std::string> parse_traceparent(std::string_view value, const char** why);

// Whether s is a traceparent as parse_traceparent keeps it (a stored one).
bool traceparent_kept_form(std::string_view s);

// The tracestate to keep for the header's fields joined with "," (RFC 9110
// field combination): its list members joined with "," without the
// optional white space and empty members; "" when it has no member;
// nullopt with *why when the text is longer than kMaxTracestate, has more
// than kMaxTracestateMembers members, a member that is not key=value of
// the specification's grammar, or a key twice.
std::optional<std::string> parse_tracestate(std::string_view combined, const char** why);

}  // namespace webhook
