# webhook_console (docs/console.md): how the page and its files are served —
# the files compiled into the module byte for byte, the index filled in with
# the location and api= (escaped), the security headers on every file,
# ETag/304, HEAD, 405 with Allow, 404 for anything else, the redirect to the
# location's slash — and the configurations nginx -t refuses.
use v5.36;
use Test::More;
use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);
use WebhookTest qw(:all);
use KeysTest qw(:all);

my $ADMIN = 'admin-key-console-serve-5e1f';
my $ASSETS = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..', 'src', 'ngx', 'console', 'assets'));
my $CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        . "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'";

# /console/ with api=; /plain (no slash, no api=: the server's one webhook_api
# location); /esc/ with an api= that needs escaping in HTML; a second server
# whose webhook_api is nested in another location.
my $ng = api_nginx(admin => $ADMIN, locations => <<'EOF', servers => <<'EOF');
        location /console/ { webhook_console api=/v1/; }
        location /plain { webhook_console; }
        location /esc/ { webhook_console api=/x&y/; }
EOF
    server {
        listen 127.0.0.1:%%PORT2%%;
        location /admin/ {
            location /admin/api/ { webhook_api admin_key=%%ADMIN%%; }
        }
        location /ui/ { webhook_console; }
    }
EOF
$ng->start;

sub get($path, $headers = {}, $method = 'GET', $port = 'PORT') {
    return http_request($method, $ng->url($path, $port), $headers);
}

sub security_headers_ok($res, $name) {
    my $h = $res->{headers};
    is($h->{'content-security-policy'}, $CSP, "$name: Content-Security-Policy");
    is($h->{'x-frame-options'}, 'DENY', "$name: X-Frame-Options");
    is($h->{'cross-origin-opener-policy'}, 'same-origin', "$name: Cross-Origin-Opener-Policy");
    is($h->{'x-content-type-options'}, 'nosniff', "$name: X-Content-Type-Options");
    is($h->{'referrer-policy'}, 'no-referrer', "$name: Referrer-Policy");
    is($h->{'cache-control'}, 'no-cache', "$name: Cache-Control no-cache");
    like($h->{etag} // '', qr/^"[0-9a-f]{20}"$/, "$name: ETag");
}

# --- the index ----------------------------------------------------------------------------

my $res = get('/console/');
is($res->{status}, 200, 'GET /console/: 200');
is($res->{headers}{'content-type'}, 'text/html; charset=utf-8', 'index: text/html');
is($res->{headers}{'content-length'}, length $res->{content}, 'index: Content-Length');
security_headers_ok($res, 'index');
my $index = $res->{content};
like($index, qr{<meta name="webhook-api" content="/v1/">}, 'index: api= reaches the page in a meta tag');
like($index, qr{<script src="/console/app\.js" defer></script>}, 'index: the script from this location');
like($index, qr{<link rel="stylesheet" href="/console/app\.css">}, 'index: the stylesheet from this location');
unlike($index, qr/\{\{/, 'index: every placeholder filled');
# CSP forbids inline code: the page has none (a script with content, a style
# element or attribute, an on* handler, a javascript: URL).
unlike($index, qr{<script(?![^>]*\bsrc=)[^>]*>}i, 'index: no inline script');
unlike($index, qr{<style|\sstyle=}i, 'index: no inline style');
unlike($index, qr{\son[a-z]+=}i, 'index: no inline event handler');
unlike($index, qr{javascript:}i, 'index: no javascript: URL');
unlike($index, qr{https?://}i, 'index: nothing from another origin');

is(get('/console/?x=1')->{content}, $index, 'a query string does not change the index');

# --- the files --------------------------------------------------------------------------------

for my $f (['app.js', 'text/javascript; charset=utf-8'], ['app.css', 'text/css; charset=utf-8']) {
    my ($name, $type) = @$f;
    my $r = get("/console/$name");
    is($r->{status}, 200, "GET /console/$name: 200");
    is($r->{headers}{'content-type'}, $type, "$name: Content-Type");
    security_headers_ok($r, $name);
    ok($r->{content} eq read_file("$ASSETS/$name"), "$name: the file compiled into the module, byte for byte");
    is($r->{headers}{'content-length'}, length $r->{content}, "$name: Content-Length");
    is(get("/plain/$name")->{content}, $r->{content}, "$name: the same bytes under another location");
}

# Everything rendered from API data goes in as text: app.js never hands a
# string to the HTML parser.
my $js = get('/console/app.js')->{content};
unlike($js, qr/\b(?:innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval)\b|new Function/, 'app.js parses no HTML and evaluates no strings');
like($js, qr/sessionStorage/, 'app.js keeps the key in sessionStorage');
unlike($js, qr/localStorage/, 'app.js never uses localStorage');

# --- not found, redirects, methods --------------------------------------------------------------

for my $path ('/console/nope.js', '/console/index.html', '/console/APP.JS', '/console/app.js/x', '/console/app.jsx',
              '/plainapp.js', '/console/assets/app.js') {
    is(get($path)->{status}, 404, "GET $path: 404");
}

$res = http_request('GET', $ng->url('/console'), {}, undef);
is($res->{status}, 200, 'GET /console (no slash): followed to the index');
$res = raw_request($ng->port, raw_http('GET', '/console'));
is($res->{status}, 301, 'GET /console: 301');
like($res->{headers}{location} // '', qr{/console/$}, 'GET /console: to /console/');

for my $method (qw(POST PUT DELETE PATCH OPTIONS)) {
    $res = raw_request($ng->port, raw_http($method, '/console/', { 'Content-Type' => 'application/json' }, '{}'));
    is($res->{status}, 405, "$method /console/: 405");
    is($res->{headers}{allow}, 'GET, HEAD', "$method /console/: Allow: GET, HEAD");
}
$res = raw_request($ng->port, raw_http('POST', '/console/nope.js', {}, 'x'));
is($res->{status}, 405, 'POST to a missing file: 405 too (the method is checked first)');

$res = raw_request($ng->port, raw_http('HEAD', '/console/app.js'));
is($res->{status}, 200, 'HEAD /console/app.js: 200');
is($res->{content}, '', 'HEAD: no body');
is($res->{headers}{'content-length'}, length $js, 'HEAD: the Content-Length of the file');
is($res->{headers}{'content-security-policy'}, $CSP, 'HEAD: the headers of the file');

# --- revalidation -----------------------------------------------------------------------------------

my $etag = get('/console/app.js')->{headers}{etag};
$res = get('/console/app.js', { 'If-None-Match' => $etag });
is($res->{status}, 304, 'If-None-Match with the ETag: 304');
is($res->{content} // '', '', '304: no body');
is(get('/console/app.js', { 'If-None-Match' => '"0000000000"' })->{status}, 200, 'another ETag: 200');
is(get('/console/app.js', { 'If-None-Match' => "W/$etag" })->{status}, 304, 'the weak form of the ETag: 304');

# --- the index per location ---------------------------------------------------------------------------

$res = get('/plain');
is($res->{status}, 200, 'location /plain: GET /plain is the index');
like($res->{content}, qr{<meta name="webhook-api" content="/v1/">}, 'no api=: the server\'s webhook_api location');
like($res->{content}, qr{<script src="/plain/app\.js" defer>}, 'location without a slash: its files under /plain/');
is(get('/plain/')->{content}, $res->{content}, 'GET /plain/: the same index');
isnt($res->{headers}{etag}, get('/console/')->{headers}{etag}, 'each location\'s index has its own ETag');

like(get('/esc/')->{content}, qr{<meta name="webhook-api" content="/x&amp;y/">}, 'api= is HTML-escaped in the page');

$res = get('/ui/', {}, 'GET', 'PORT2');
like($res->{content}, qr{<meta name="webhook-api" content="/admin/api/">},
     'no api=: a webhook_api in a nested location of the server counts');

$ng->log_is_clean;

# --- configurations nginx -t refuses ----------------------------------------------------------------------

# Each message names the file and line of the webhook_console directive,
# also for the checks made once the whole configuration is read.
sub refused($name, $locations, $expect, %o) {
    my $n = WebhookTest::Nginx->new(conf => api_conf(locations => $locations, servers => $o{servers} // ''),
                                    vars => { ADMIN => $ADMIN });
    my ($exit, $out) = $n->test_config;
    isnt($exit, 0, "nginx -t refuses: $name");
    like($out, $expect, "$name: the message says why") or diag $out;
    my @lines = split /\n/, read_file($n->conf_path);
    my ($line) = grep { $lines[$_ - 1] =~ /webhook_console/ } 1 .. @lines;
    like($out, qr/ in \Q${\ $n->conf_path }\E:$line\n/, "$name: at the directive's line ($line)") or diag $out;
}

refused('api= with a scheme', 'location /c/ { webhook_console api=https://evil.example/v1/; }',
        qr{webhook_console: invalid api= .*must be a path on this server});
refused('api= to another host', 'location /c/ { webhook_console api=//evil.example/v1/; }',
        qr{invalid api= .*another host});
refused('api= with a backslash', 'location /c/ { webhook_console api=/\\evil.example/; }', qr{invalid api= .*another host});
refused('api= that would end the attribute', q{location /c/ { webhook_console 'api=/v1/"><script>'; }},
        qr{invalid api= .*may only hold});
refused('api= with a query', 'location /c/ { webhook_console api=/v1/?x=1; }', qr{invalid api= .*no query});
refused('api= with ..', 'location /c/ { webhook_console api=/c/../v1/; }', qr{invalid api= .*"\.\."});
refused('empty api=', 'location /c/ { webhook_console api=; }', qr{webhook_console: parameter "api=" needs a value});
refused('unknown parameter', 'location /c/ { webhook_console zone=wh; }', qr{webhook_console: unknown parameter "zone=wh"});
refused('a second webhook_console', 'location /c/ { webhook_console; webhook_console; }', qr{"webhook_console" directive is duplicate});
refused('regex location', 'location ~ ^/c/ { webhook_console; }', qr{webhook_console: needs a prefix location});
refused('exact location', 'location = /c/ { webhook_console; }', qr{webhook_console: needs a prefix location});
refused('with webhook_api in one location', 'location /c/ { webhook_console api=/v1/; webhook_api; }',
        qr{webhook_console: location "/c/" has webhook_api});
refused('server level', "webhook_console api=/v1/;\n", qr{"webhook_console" directive is not allowed here});
# The default needs exactly one webhook_api in the console's own server.
refused('no api= and no webhook_api in the server', '', qr{no api= and no webhook_api location in this server: add api=URI},
        servers => "    server { listen 127.0.0.1:%%PORT2%%; location /c/ { webhook_console; } }\n");
refused('no api= and two webhook_api locations', "location /v2/ { webhook_api admin_key=%%ADMIN%%; }\n"
        . 'location /c/ { webhook_console; }', qr{several webhook_api locations in this server \("/v1/", "/v2/"\): choose one with api=URI});

# What the default and api= accept, for comparison.
my ($exit, $out) = WebhookTest::Nginx->nginx_t(api_conf(locations => "location /c { webhook_console; }\n"
    . "location /d/ { webhook_console api=/v1; }\n"), vars => { ADMIN => $ADMIN });
is($exit, 0, 'nginx -t accepts the default api= and an api= without a trailing slash') or diag $out;

done_testing;
