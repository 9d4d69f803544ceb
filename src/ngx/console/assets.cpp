// The console's files, compiled into the module with the assembler's
// .incbin: the bytes of each file, as they are in src/ngx/console/assets/,
// between two hidden symbols. config.make passes the folder as
// WEBHOOK_CONSOLE_ASSETS and makes this object depend on its files, so
// editing one rebuilds the module.

#include "ngx/console/assets.hpp"

#include <cstdint>

#ifndef WEBHOOK_CONSOLE_ASSETS
#error "WEBHOOK_CONSOLE_ASSETS must name src/ngx/console/assets (config.make sets it)"
#endif

#define WEBHOOK_EMBED(sym, file)                                                     \
    asm(".pushsection .rodata\n"                                                     \
        ".balign 16\n"                                                               \
        ".globl " #sym "_start\n"                                                    \
        ".hidden " #sym "_start\n" #sym "_start:\n"                                  \
        ".incbin \"" WEBHOOK_CONSOLE_ASSETS "/" file "\"\n"                          \
        ".globl " #sym "_end\n"                                                      \
        ".hidden " #sym "_end\n" #sym "_end:\n"                                      \
        ".popsection\n");                                                            \
    extern "C" __attribute__((visibility("hidden"))) const char sym##_start[], sym##_end[]

WEBHOOK_EMBED(webhook_console_index, "index.html");
WEBHOOK_EMBED(webhook_console_js, "app.js");
WEBHOOK_EMBED(webhook_console_css, "app.css");

namespace webhook::ngx {

namespace {
// The symbols bound separate objects to C++: measured as addresses.
std::string_view bytes(const char* start, const char* end) {
    return {start, static_cast<size_t>(reinterpret_cast<uintptr_t>(end) - reinterpret_cast<uintptr_t>(start))};
}
}  // namespace

const ConsoleFile console_files[kConsoleFiles] = {
    {"", "text/html; charset=utf-8", bytes(webhook_console_index_start, webhook_console_index_end)},
    {"app.js", "text/javascript; charset=utf-8", bytes(webhook_console_js_start, webhook_console_js_end)},
    {"app.css", "text/css; charset=utf-8", bytes(webhook_console_css_start, webhook_console_css_end)},
};

}  // namespace webhook::ngx
