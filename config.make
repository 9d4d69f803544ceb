# Sourced by NGINX's auto/make: compile our .cpp objects as C++17 with hidden
# symbols (NGINX dlopens modules RTLD_GLOBAL; our C++ internals must not clash).
# GCC 12 reports std::optional / std::variant members moved into a lambda as
# "may be used uninitialized" (a known false positive at -O2, worse with
# ASan); NGINX builds with -Werror, so that warning is off for our objects.

for ngx_src in $WEBHOOK_CORE_SRCS $WEBHOOK_NGX_SRCS; do
    ngx_obj="$NGX_OBJS/addon/`basename \`dirname $ngx_src\``/`basename $ngx_src .cpp`.o"
    echo "$ngx_obj: CFLAGS += -std=c++17 -fvisibility=hidden -fno-rtti -Wno-missing-field-initializers -Wno-maybe-uninitialized" >> $NGX_MAKEFILE
done

# The console's files are compiled into console/assets.o by the assembler's
# .incbin (src/ngx/console/assets.cpp): tell it where they are, and rebuild
# that object when one of them changes.
ngx_console_assets="$ngx_addon_dir/src/ngx/console/assets"
ngx_obj="$NGX_OBJS/addon/console/assets.o"
echo "$ngx_obj: CFLAGS += -DWEBHOOK_CONSOLE_ASSETS='\"$ngx_console_assets\"'" >> $NGX_MAKEFILE
echo "$ngx_obj: \$(wildcard $ngx_console_assets/*)" >> $NGX_MAKEFILE
