# Sourced by NGINX's auto/make: compile our .cpp objects as C++17 with hidden
# symbols (NGINX dlopens modules RTLD_GLOBAL; our C++ internals must not clash).

for ngx_src in $WEBHOOK_CORE_SRCS $WEBHOOK_NGX_SRCS; do
    ngx_obj="$NGX_OBJS/addon/`basename \`dirname $ngx_src\``/`basename $ngx_src .cpp`.o"
    echo "$ngx_obj: CFLAGS += -std=c++17 -fvisibility=hidden -fno-rtti -Wno-missing-field-initializers" >> $NGX_MAKEFILE
done
