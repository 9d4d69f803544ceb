# api_key_auth: scopes (readwrite satisfies read), resource= (fixed, from a
# variable, wildcard keys), the $api_key_* variables at the backend,
# limit_except, `off` in a nested location, expiry, and a revocation that
# every worker honours on the very next request.
use v5.36;
use Test::More;
use HTTP::Tiny;
use WebhookTest qw(:all);
use KeysTest qw(:all);

my $ADMIN = 'admin-key-auth-t-88d2f0';

my $backend = WebhookTest::Backend->start;
# reuseport: the kernel spreads new connections over both workers' sockets,
# and the workers log shows which worker answered.
my $ng = WebhookTest::Nginx->new(vars => { BACKEND => $backend->port, ADMIN => $ADMIN }, conf => <<'EOF');
    webhook_zone zone=wh:1m;
    log_format byworker '$pid $status $request_uri';
    limit_req_zone $api_key_id zone=perkey:1m rate=1r/m;
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log %%PREFIX%%/workers.log byworker;

        location /v1/       { webhook_api admin_key=%%ADMIN%%; }
        location /read      { api_key_auth read; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /readwrite { api_key_auth readwrite; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /manage    { api_key_auth webhooks:manage; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /publish   { api_key_auth events:publish; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /acme      { api_key_auth read resource=org:acme; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location ~ ^/rooms/([^/]+)$ {
            api_key_auth readwrite resource=room:$1;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /vars {
            api_key_auth read;
            proxy_set_header X-Key-Id $api_key_id;
            proxy_set_header X-Key-Resource $api_key_resource;
            proxy_set_header X-Key-Scopes $api_key_scopes;
            proxy_set_header X-Key-Label $api_key_label;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /lx {
            api_key_auth read;
            limit_except GET { api_key_auth readwrite; }
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /nested {
            api_key_auth read;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            location /nested/open { api_key_auth off; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        }
        location /plain { proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /limited {
            api_key_auth read;
            limit_req zone=perkey;
            limit_req_status 429;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /early {
            set $early_id $api_key_id;
            api_key_auth read;
            proxy_set_header X-Early-Id $early_id;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
    }
EOF
$ng->start;

my @secrets;
sub key(%f) {
    my $k = create_key($ng, $ADMIN, %f);
    push @secrets, $k->{key};
    return $k;
}

my $read  = key(resource => 'room:1', scopes => ['read'], label => 'reader');
my $rw    = key(resource => 'room:1', scopes => ['readwrite']);
my $mgr   = key(resource => 'room:1', scopes => ['webhooks:manage']);
my $pub   = key(resource => 'room:1', scopes => ['events:publish']);
my $acme  = key(resource => 'org:acme', scopes => ['read', 'events:publish'], label => 'Acme prod');
my $star  = key(resource => '*', scopes => ['readwrite']);

sub check($path, $key, $status, $code, $name) {
    my $before = $backend->count;
    my $res = auth_get($ng, $path, $key);
    is($res->{status}, $status, "$name: $status");
    if ($code) {
        is(error_code($res), $code, "$name: $code");
        like($res->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON error");
        is($backend->count, $before, "$name: nothing reached the backend");
    } else {
        is($backend->count, $before + 1, "$name: reached the backend");
    }
    return $res;
}

# --- failures ------------------------------------------------------------------------

check('/read', undef, 401, 'missing_api_key', 'no key');
{
    my $res = WebhookTest::http_get($ng->url('/read'), { Authorization => "Basic " . 'dXNlcjpwYXNz' });
    is_deeply([$res->{status}, error_code($res)], [401, 'missing_api_key'], 'Authorization: Basic is not a key: missing_api_key');
    $res = WebhookTest::http_get($ng->url('/read'), { Authorization => "Bearer sk_" . ('x' x 40) });
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'unknown key: invalid_api_key');
    $res = WebhookTest::http_get($ng->url('/read'), { 'X-API-Key' => 'short' });
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'a short X-API-Key: invalid_api_key');
    $res = WebhookTest::http_get($ng->url('/read'), { Authorization => "Bearer " . substr($read->{key}, 0, -1) });
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'a truncated key: invalid_api_key');
    $res = WebhookTest::http_get($ng->url('/read'), { Authorization => "Bearer " . $ADMIN });
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'the admin key is not an API key');
    $res = WebhookTest::http_get($ng->url('/read'), { 'X-API-Key' => $read->{key} });
    is($res->{status}, 200, 'X-API-Key header accepted');
    $res = WebhookTest::http_get($ng->url('/read'), { Authorization => "bearer $read->{key}" });
    is($res->{status}, 200, 'the Bearer scheme is case-insensitive');
}

# --- what the caller is told and what the log says ---------------------------------------------

# One [info] line per refusal, "api_key_auth refused: <status> <code>: <reason>",
# never the key; the answer names what would admit the request.
sub refusal_line($path, $key, $name) {
    my $mark = $ng->log_mark;
    my $res = auth_get($ng, $path, $key);
    like($res->{content}, qr/\}\n\z/, "$name: the JSON body ends with one newline");
    unlike($res->{content}, qr/\n\n\z/, "$name: only one");
    my @lines = $ng->wait_log($mark, qr/api_key_auth/);
    is(scalar @lines, 1, "$name: one log line") or diag(join "\n", @lines);
    return (json_decode($res->{content}) // {})->{error}{message} // '', $lines[0] // '';
}
{
    my ($msg, $line) = refusal_line('/read', undef, 'no key');
    like($msg, qr/Authorization: Bearer <key> or X-API-Key: <key>/, 'no key: the message names the headers');
    like($line, qr/\[info\].*api_key_auth refused: 401 missing_api_key: no key in Authorization: Bearer or X-API-Key,/,
         'no key: the log line');
    ($msg, $line) = refusal_line('/read', 'sk_' . ('x' x 40), 'unknown key');
    like($msg, qr/not valid \(unknown, revoked or expired\)/, 'unknown key: the message');
    like($line, qr/\[info\].*api_key_auth refused: 401 invalid_api_key: an unknown, revoked or expired key,/,
         'unknown key: the log line');
    ($msg, $line) = refusal_line('/readwrite', $read->{key}, 'read key on readwrite');
    is($msg, 'this needs an API key with the readwrite scope', 'insufficient_scope: the message names the scope');
    like($line, qr/\[info\].*api_key_auth refused: 403 insufficient_scope: key \Q$read->{id}\E has scopes "read", not readwrite,/,
         'insufficient_scope: the log line names the key id and both scopes');
    ($msg, $line) = refusal_line('/acme', $read->{key}, 'room:1 key on org:acme');
    like($line, qr/api_key_auth refused: 403 forbidden_resource: key \Q$read->{id}\E is for resource "room:1", not "org:acme",/,
         'forbidden_resource: the log line names both resources');
    unlike($line, qr/\Q$read->{key}\E/, 'the log line has the key id, never the key');
}

# --- scopes ---------------------------------------------------------------------------

check('/read', $read->{key}, 200, undef, 'read key on read');
check('/read', $rw->{key}, 200, undef, 'readwrite key on read (readwrite satisfies read)');
check('/readwrite', $read->{key}, 403, 'insufficient_scope', 'read key on readwrite');
check('/readwrite', $rw->{key}, 200, undef, 'readwrite key on readwrite');
check('/read', $mgr->{key}, 403, 'insufficient_scope', 'webhooks:manage key on read');
check('/manage', $mgr->{key}, 200, undef, 'webhooks:manage key on webhooks:manage');
check('/manage', $rw->{key}, 403, 'insufficient_scope', 'readwrite key on webhooks:manage');
check('/publish', $pub->{key}, 200, undef, 'events:publish key on events:publish');
check('/publish', $rw->{key}, 403, 'insufficient_scope', 'readwrite key on events:publish');
check('/publish', $acme->{key}, 200, undef, 'a key with two scopes, the second one needed');

# --- resource= ---------------------------------------------------------------------------

check('/acme', $acme->{key}, 200, undef, 'resource=org:acme with an org:acme key');
check('/acme', $read->{key}, 403, 'forbidden_resource', 'resource=org:acme with a room:1 key');
check('/rooms/1', $rw->{key}, 200, undef, 'resource=room:$1, room 1, room:1 key');
check('/rooms/2', $rw->{key}, 403, 'forbidden_resource', 'resource=room:$1, room 2, room:1 key');
check('/rooms/2', $read->{key}, 403, 'insufficient_scope', 'scope is checked (read key on readwrite room)');
check('/rooms/2', $star->{key}, 200, undef, 'wildcard key on room 2');
check('/acme', $star->{key}, 200, undef, 'wildcard key on org:acme');
check('/rooms/11', $rw->{key}, 403, 'forbidden_resource', 'room:11 is not room:1 (no prefix match)');

# --- variables ---------------------------------------------------------------------------------

{
    my $res = auth_get($ng, '/vars', $acme->{key});
    is($res->{status}, 200, '/vars: 200');
    my $req = $backend->request_for($res);
    is($req->{headers}{'x-key-id'}, $acme->{id}, '$api_key_id reaches the backend');
    is($req->{headers}{'x-key-resource'}, 'org:acme', '$api_key_resource reaches the backend');
    is($req->{headers}{'x-key-scopes'}, 'read events:publish', '$api_key_scopes reaches the backend');
    is($req->{headers}{'x-key-label'}, 'Acme prod', '$api_key_label reaches the backend');
    $res = auth_get($ng, '/vars', $star->{key});
    $req = $backend->request_for($res);
    is($req->{headers}{'x-key-resource'}, '*', 'wildcard key: $api_key_resource is *');
    is($req->{headers}{'x-key-scopes'}, 'readwrite', 'readwrite key: $api_key_scopes');
    ok(!defined $req->{headers}{'x-key-label'} || $req->{headers}{'x-key-label'} eq '', 'no label: empty $api_key_label');
}

# Variables used before the access phase: limit_req (preaccess) and set (rewrite).
{
    is(auth_get($ng, '/limited', $read->{key})->{status}, 200, 'limit_req_zone $api_key_id: first request of a key passes');
    is(auth_get($ng, '/limited', $read->{key})->{status}, 429, 'limit_req_zone $api_key_id: second request of that key is limited');
    is(auth_get($ng, '/limited', $rw->{key})->{status}, 200, 'limit_req_zone $api_key_id: another key has its own bucket');
    my $res = auth_get($ng, '/limited', undef);
    is_deeply([$res->{status}, error_code($res)], [401, 'missing_api_key'], 'limit_req: no key is refused by api_key_auth, not limited');
    $res = auth_get($ng, '/early', $acme->{key});
    is($res->{status}, 200, 'set $x $api_key_id in the rewrite phase: 200');
    is($backend->request_for($res)->{headers}{'x-early-id'}, $acme->{id}, '$api_key_id read in the rewrite phase has the id');
    $res = auth_get($ng, '/early', 'sk_' . ('Q' x 40));
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'early variable use does not let an unknown key through');
}

# --- limit_except ----------------------------------------------------------------------------------

{
    my $before = $backend->count;
    is(auth_get($ng, '/lx', $read->{key})->{status}, 200, 'limit_except: GET with a read key: 200');
    is(auth_request($ng, 'HEAD', '/lx', $read->{key})->{status}, 200, 'limit_except: HEAD (implied by GET) with a read key: 200');
    my $res = auth_request($ng, 'POST', '/lx', $read->{key}, body => 'x');
    is_deeply([$res->{status}, error_code($res)], [403, 'insufficient_scope'], 'limit_except: POST with a read key: 403');
    $res = auth_request($ng, 'DELETE', '/lx', $read->{key});
    is($res->{status}, 403, 'limit_except: DELETE with a read key: 403');
    is(auth_request($ng, 'POST', '/lx', $rw->{key}, body => 'x')->{status}, 200, 'limit_except: POST with a readwrite key: 200');
    is(auth_get($ng, '/lx', $rw->{key})->{status}, 200, 'limit_except: GET with a readwrite key: 200');
    is(auth_get($ng, '/lx', $mgr->{key})->{status}, 403, 'limit_except: GET with a manage-only key: 403');
    $res = auth_request($ng, 'POST', '/lx', undef, body => 'x');
    is(error_code($res), 'missing_api_key', 'limit_except: POST without a key: missing_api_key');
    is($backend->count, $before + 4, 'limit_except: only the admitted requests reached the backend');
}

# --- off in a nested location --------------------------------------------------------------------

check('/nested/x', undef, 401, 'missing_api_key', 'nested: inherits api_key_auth');
check('/nested/open', undef, 200, undef, 'nested: api_key_auth off');
check('/plain', undef, 200, undef, 'a location without api_key_auth');

# --- expiry --------------------------------------------------------------------------------------

{
    my $exp = time + 3;
    my $short = key(resource => 'room:1', scopes => ['read', 'webhooks:manage'], expires_at => int $exp);
    is(auth_get($ng, '/read', $short->{key})->{status}, 200, 'a key expiring in 3 s works now');
    is(api($ng, 'GET', '/keys', undef, key => $short->{key})->{status}, 200, '… and at the API');
    sleep 0.2 while time < int($exp) + 1.2;
    my $res = auth_get($ng, '/read', $short->{key});
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'after expires_at: 401 invalid_api_key');
    my @st = fresh_connections($ng, '/read', $short->{key}, 20);
    is(scalar(grep { $_ == 401 } @st), 20, 'after expires_at: refused on 20 new connections');
    $res = api($ng, 'GET', '/keys', undef, key => $short->{key});
    is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'after expires_at: refused at the API too');
}

# --- revocation in every worker ------------------------------------------------------------------------

{
    my $victim = key(resource => 'room:1', scopes => ['read']);
    my $keep = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
    my $url = $ng->url('/read');
    my %h = (Authorization => "Bearer $victim->{key}");
    is($keep->get($url, { headers => \%h })->{status}, 200, 'keep-alive connection: 200 before the revocation');

    my @warm = fresh_connections($ng, '/read', $victim->{key}, 40);
    is(scalar(grep { $_ == 200 } @warm), 40, 'before the revocation: 40 requests on new connections pass');

    my $mark = -s ($ng->prefix . '/workers.log') // 0;
    is(api($ng, 'DELETE', "/keys/$victim->{id}", undef, key => $ADMIN)->{status}, 204, 'DELETE: 204');
    my @after = fresh_connections($ng, '/read', $victim->{key}, 200);
    is(scalar(grep { $_ == 401 } @after), 200, 'right after DELETE: 200 requests on new connections, all 401');
    is($keep->get($url, { headers => \%h })->{status}, 401, 'the kept-alive connection is refused on its next request');

    my $log = substr(WebhookTest::read_file($ng->prefix . '/workers.log') // '', $mark);
    my %by_worker;
    $by_worker{$_}++ for $log =~ m{^(\d+) 401 /read$}mg;
    is(scalar(keys %by_worker), 2, 'the 401s came from both workers') or diag(explain \%by_worker);
    my @workers = $ng->worker_pids;
    is(scalar @workers, 2, 'two workers');
    ok(!grep({ !$by_worker{$_} } @workers), 'each running worker refused the revoked key');
}

$ng->log_is_clean;
$ng->log_lacks($ADMIN, 'admin key not in the logs');
my $errlog = $ng->error_log;
ok(!grep({ index($errlog, $_) >= 0 } @secrets), 'no key string in the error log');
like($errlog, qr/api_key_auth refused: 401 invalid_api_key: /, 'refusals are logged with their code');

done_testing;
