// The console's files (src/ngx/console/assets/), compiled into the module.
#pragma once

#include <string_view>

namespace webhook::ngx {

struct ConsoleFile {
    std::string_view name;           // under the console's location; "" is the index
    std::string_view content_type;
    std::string_view data;           // the index: a template for console_index()
};

// index.html, app.js, app.css.
constexpr size_t kConsoleFiles = 3;
extern const ConsoleFile console_files[kConsoleFiles];

}  // namespace webhook::ngx
