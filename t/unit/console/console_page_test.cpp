// Unit tests for src/core/console/console_page: the URIs the console may be
// pointed at, HTML escaping and the index page filled in for a location.
#include <gtest/gtest.h>

#include <string>

#include "core/console/console_page.hpp"

using namespace webhook;

// ---- console_uri_problem ------------------------------------------------------------

TEST(ConsoleUri, Accepted) {
    for (const char* u : {"/", "/v1/", "/v1", "/api/v1/", "/a-b_c.d~e/", "/%7Euser/", "/x&y/", "/a:b@c/",
                          "/!$()*+,;=/", "/.well-known/", "/v1./", "/..x/"})
        EXPECT_EQ(console_uri_problem(u), std::nullopt) << u;
    EXPECT_EQ(console_uri_problem("/" + std::string(kMaxConsoleUri - 1, 'a')), std::nullopt);
}

TEST(ConsoleUri, Refused) {
    for (const char* u : {"", "v1/", "https://evil.example/v1/", "//evil.example/v1/", "/\\evil.example/",
                          "/v1/?x=1", "/v1/#top", "/v 1/", "/v1/\"><script>", "/v1/'", "/v1/<", "/v1/>",
                          "/a\\b/", "/%", "/%4", "/%zz/", "/./", "/..", "/a/../b/", "/a/./b", "/a/..",
                          "/caf\xc3\xa9/", "/a\tb", "/a\nb"})
        EXPECT_NE(console_uri_problem(u), std::nullopt) << u;
    EXPECT_NE(console_uri_problem(std::string_view("/a\0b", 4)), std::nullopt);
    EXPECT_NE(console_uri_problem("/" + std::string(kMaxConsoleUri, 'a')), std::nullopt);
}

TEST(ConsoleUri, ProblemNamesTheRule) {
    EXPECT_NE(console_uri_problem("//x/")->find("another host"), std::string::npos);
    EXPECT_NE(console_uri_problem("/a/../b")->find(".."), std::string::npos);
    EXPECT_NE(console_uri_problem("x")->find("starting with \"/\""), std::string::npos);
}

TEST(ConsoleUri, TrailingSlash) {
    EXPECT_EQ(with_trailing_slash("/v1"), "/v1/");
    EXPECT_EQ(with_trailing_slash("/v1/"), "/v1/");
    EXPECT_EQ(with_trailing_slash("/"), "/");
}

// ---- html_escape ------------------------------------------------------------------------

TEST(HtmlEscape, EveryMarkupCharacter) {
    EXPECT_EQ(html_escape("plain /v1/ text"), "plain /v1/ text");
    EXPECT_EQ(html_escape("<img src=x onerror=\"a('b')\">&"),
              "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;");
    EXPECT_EQ(html_escape(""), "");
}

// ---- console_index ----------------------------------------------------------------------

TEST(ConsoleIndex, FillsEveryPlaceholderEscaped) {
    std::string page = console_index(
        "<meta name=\"webhook-api\" content=\"{{API}}\"><link href=\"{{BASE}}app.css\"><script src=\"{{BASE}}app.js\">",
        "/console/", "/x&y/");
    EXPECT_EQ(page,
              "<meta name=\"webhook-api\" content=\"/x&amp;y/\"><link href=\"/console/app.css\">"
              "<script src=\"/console/app.js\">");
    // A value cannot end the attribute it is in, even one no check refused.
    EXPECT_EQ(console_index("<meta content=\"{{API}}\">", "/", "\"><script>alert(1)</script>"),
              "<meta content=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">");
    // A value holding a placeholder is not filled again.
    EXPECT_EQ(console_index("{{API}}|{{BASE}}", "{{API}}", "{{BASE}}"), "{{BASE}}|{{API}}");
}
