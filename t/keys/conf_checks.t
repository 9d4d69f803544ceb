# nginx -t and the keys' mistakes (issue 9): a `return` that answers before
# api_key_auth (access phase); a zone whose API has no admin_key= (nothing can
# create the first key); an api_key_auth zone no webhook_api serves (it never
# holds a key); a zone reference that cannot be resolved. Each message at the
# directive's own line (not at the end of the http block).
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use ConfTest qw(refused warned accepted app_conf);

my $PROXY = 'proxy_pass http://127.0.0.1:%%PORT2%%;';

my $API = 'location /v1/ { webhook_api admin_key=%%ADMIN%%; }';
my %vars = (vars => { ADMIN => 'admin-key-conf-checks-7e1d' });

# --- return before api_key_auth ---------------------------------------------------------------

refused('api_key_auth and return', app_conf("$API\n location /r { api_key_auth read; return 200; }"), 'api_key_auth read',
        'api_key_auth: "return" here answers every request in the rewrite phase, before api_key_auth runs (access '
        . 'phase): no request would be checked for an API key; remove "return" and let requests go on to proxy_pass (or '
        . 'another content handler) (location "/r")', %vars);
refused('api_key_auth and a server-level return', app_conf("$API\n location /r { api_key_auth read; $PROXY }", server => 'return 403;'),
        'api_key_auth read',
        'api_key_auth: the server\'s "return" answers every request in the rewrite phase, before api_key_auth runs '
        . '(access phase): no request would be checked for an API key; move that "return" into a location of its own '
        . '(location "/r")', %vars);
warned('api_key_auth and return inside if', app_conf("$API\n location /r { api_key_auth read; if (\$arg_x) { return 204; } $PROXY }"),
       'api_key_auth read',
       'api_key_auth: a "return" inside "if" (or after "rewrite" or "break") here answers in the rewrite phase, before '
       . 'api_key_auth runs (access phase): the requests it answers are not checked for an API key; if that is not '
       . 'intended, move it to a location without api_key_auth (location "/r")', %vars);

# limit_except: a limited method runs the block's own rewrites (none), not the
# location's return, so api_key_auth there does run.
{
    my ($ng) = accepted('api_key_auth in limit_except, return in the location',
                        app_conf("$API\n location /r { limit_except GET { api_key_auth readwrite; } return 200 \"returned\\n\"; }"),
                        %vars);
    $ng->start;
    is(http_post($ng->url('/r'), 'x')->{status}, 401, 'limit_except: POST without a key is refused (401)');
    is(http_get($ng->url('/r'))->{content}, "returned\n", 'limit_except: GET gets the return');
    $ng->log_is_clean;
    $ng->stop;
}
# ...but the server's rewrites run first for every method: its return answers
# before api_key_auth in limit_except too.
refused('api_key_auth in limit_except and a server-level return',
        app_conf("$API\n location /r { limit_except GET { api_key_auth readwrite; } $PROXY }", server => 'return 403;'),
        'api_key_auth readwrite',
        'api_key_auth: the server\'s "return" answers every request in the rewrite phase, before api_key_auth runs '
        . '(access phase): no request would be checked for an API key; move that "return" into a location of its own '
        . '(location "/r")', %vars);

# --- webhook_api without admin_key= -------------------------------------------------------------

refused('webhook_api without admin_key=, no state=', app_conf('location /v1/ { webhook_api; }'), 'webhook_api;',
        'webhook_api: no webhook_api of zone "wz" has admin_key=, and the zone has no state=: no API key can ever be '
        . 'created; add admin_key=SECRET (location "/v1/")');
warned('webhook_api without admin_key=, with state=',
       app_conf('location /v1/ { webhook_api; }', zones => 'webhook_zone zone=wz:1m state=%%PREFIX%%/state;'), 'webhook_api;',
       'webhook_api: no webhook_api of zone "wz" has admin_key=: only keys kept in state="%%PREFIX%%/state" can use it, '
       . 'none can be created without one; add admin_key=SECRET unless that is intended (location "/v1/")');
{
    # Said once per zone, at its first webhook_api, not once per location.
    my (undef, $out) = warned('two webhook_api without admin_key=, with state=',
        app_conf("location /v1/ { webhook_api; }\n location /v2/ { webhook_api; }",
                 zones => 'webhook_zone zone=wz:1m state=%%PREFIX%%/state;'), 'webhook_api;',
        'webhook_api: no webhook_api of zone "wz" has admin_key=: only keys kept in state="%%PREFIX%%/state" can use it, '
        . 'none can be created without one; add admin_key=SECRET unless that is intended (location "/v1/")');
    my @warns = grep { /no webhook_api of zone "wz" has admin_key=/ } split /\n/, $out;
    is(scalar @warns, 1, 'two webhook_api without admin_key=: one warning for the zone') or diag($out);
}
accepted('a public webhook_api without admin_key= beside an admin one of the same zone',
         app_conf("$API\n location /public/ { webhook_api; }"), %vars);

# --- api_key_auth on a zone no webhook_api serves ----------------------------------------------------

refused('api_key_auth, no webhook_api for its zone',
        app_conf("location /v1/ { webhook_api zone=wz admin_key=k; }\n location /r { api_key_auth read zone=other; $PROXY }",
             zones => "webhook_zone zone=wz:1m;\n    webhook_zone zone=other:1m;"), 'api_key_auth read',
        'api_key_auth: no webhook_api serves zone "other", which has no state=: it never holds an API key and every '
        . 'request would be refused; add a location with "webhook_api zone=other admin_key=SECRET;" (location "/r")',
        vars => { ADMIN => 'k' });
accepted('api_key_auth with a webhook_api serving its zone', app_conf("$API\n location /r { api_key_auth read; $PROXY }"), %vars);

# --- zone references resolved after the http block: at the directive's line ----------------------------------

refused('webhook_api and no webhook_zone', app_conf($API, zones => ''), 'webhook_api admin_key',
        'webhook_api: the configuration has no webhook_zone: add "webhook_zone zone=NAME:SIZE;" to the http block '
        . '(location "/v1/")', %vars);
refused('webhook_api and two zones', app_conf($API, zones => "webhook_zone zone=a:1m;\n    webhook_zone zone=b:1m;"),
        'webhook_api admin_key',
        'webhook_api: zone=NAME is needed: the configuration has 2 webhook_zone directives (location "/v1/")', %vars);
refused('webhook_api naming an unknown zone', app_conf('location /v1/ { webhook_api zone=nope admin_key=k; }'), 'webhook_api zone=nope',
        'webhook_api: unknown webhook_zone "nope": declare it with "webhook_zone zone=nope:SIZE;" in the http block, or '
        . 'name another zone (location "/v1/")');
refused('webhook_api in a regex location', app_conf('location ~ ^/v1/ { webhook_api admin_key=k; }'), 'webhook_api admin_key',
        'webhook_api: needs a prefix location (location /v1/ {...}), not "^/v1/" (location "^/v1/")');
refused('webhook_status and two zones',
        app_conf("location /v1/ { webhook_api zone=a admin_key=k; }\n location /metrics { webhook_status; }",
             zones => "webhook_zone zone=a:1m;\n    webhook_zone zone=b:1m;"), 'webhook_status',
        'webhook_status: zone=NAME is needed: the configuration has 2 webhook_zone directives (location "/metrics")');
refused('api_key_auth at server level and two zones',
        app_conf("location /v1/ { webhook_api zone=a admin_key=k; }", server => 'api_key_auth read;',
             zones => "webhook_zone zone=a:1m;\n    webhook_zone zone=b:1m;"), 'api_key_auth read',
        'api_key_auth: zone=NAME is needed: the configuration has 2 webhook_zone directives');

done_testing;
