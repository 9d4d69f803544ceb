# Hardening of api_key_auth and the management API (README.md#api_key_auth, README.md#rest-api):
#  - 11: a server-level `set $who $api_key_id;` evaluated before the location's
#    own `api_key_auth ... zone=internal` must not make the location check the
#    key against the server's zone (public);
#  - `location /api { webhook_api; }` serves /api/keys, never /apikeys;
#  - a 400 invalid_json never echoes the bytes of a secret-looking string
#    from the body (nor does the log);
#  - expired keys do not count toward max_keys.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(api create_key auth_get);

my $ADMIN = 'admin-key-harden-keys-a81f';

my $ng = WebhookTest::Nginx->new(vars => { ADMIN => $ADMIN }, conf => <<'EOF');
    webhook_zone zone=public:1m;
    webhook_zone zone=internal:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        api_key_auth read zone=public;
        set $who $api_key_id;
        location /v1/     { api_key_auth off; webhook_api zone=public admin_key=%%ADMIN%%; }
        location /v2/     { api_key_auth off; webhook_api zone=internal admin_key=%%ADMIN%%; }
        location /api     { api_key_auth off; webhook_api zone=public admin_key=%%ADMIN%%; }
        location /internal {
            api_key_auth read zone=internal;
            proxy_pass http://127.0.0.1:%%PORT2%%;
        }
        location /pub { proxy_pass http://127.0.0.1:%%PORT2%%; }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location / { return 200 "app\n"; }
    }
EOF
$ng->start;

# --- 11. the location's zone decides, whatever evaluated $api_key_id first ------------------------

{
    my $pub = create_key($ng, $ADMIN, resource => '*', scopes => ['read']);
    my $res = api($ng, 'POST', '/v2/keys', { resource => '*', scopes => ['read'] }, key => $ADMIN, raw_path => 1);
    is($res->{status}, 201, 'two zones: a key in zone internal');
    my $int = $res->{json};
    is(auth_get($ng, '/pub', $pub->{key})->{status}, 200, 'zone public key at the server-level check (public): 200');
    is(auth_get($ng, '/pub', $int->{key})->{status}, 401, 'zone internal key at the server-level check (public): 401');
    $res = auth_get($ng, '/internal', $pub->{key});
    is($res->{status}, 401, 'zone public key at a location checking zone=internal: 401')
        or diag("today: $res->{status}");
    is(error_code($res), 'invalid_api_key', 'zone public key at zone=internal: invalid_api_key');
    is(auth_get($ng, '/internal', $int->{key})->{status}, 200, 'zone internal key at zone=internal: 200')
        or diag('today: ' . auth_get($ng, '/internal', $int->{key})->{status});
}

# --- webhook_api under `location /api` does not serve /apikeys ---------------------------------------

{
    my $res = api($ng, 'GET', '/api/keys', undef, key => $ADMIN, raw_path => 1);
    is($res->{status}, 200, '/api/keys: 200 (control)');
    my $total = $res->{json}{total};
    $res = api($ng, 'GET', '/apikeys', undef, key => $ADMIN, raw_path => 1);
    is($res->{status}, 404, 'GET /apikeys: 404, not /api/keys') or diag("today: $res->{status} $res->{content}");
    $res = api($ng, 'POST', '/apikeys', { resource => 'room:9', scopes => ['read'] }, key => $ADMIN, raw_path => 1);
    is($res->{status}, 404, 'POST /apikeys: 404') or diag("today: $res->{status}");
    is(api($ng, 'GET', '/api/keys', undef, key => $ADMIN, raw_path => 1)->{json}{total}, $total,
       'POST /apikeys created nothing');
    $res = api($ng, 'GET', '/apiwebhooks', undef, key => $ADMIN, raw_path => 1);
    is($res->{status}, 404, 'GET /apiwebhooks: 404') or diag("today: $res->{status}");
}

# --- invalid JSON answers do not echo secret-looking strings ------------------------------------------------

{
    # short enough (<= 20 bytes with quotes) for jansson to quote it in "near '...'"
    my $secret = 'whsec_' . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[int rand 62] } 1 .. 10);
    my $tail = substr($secret, 6);   # bytes that must not come back
    my @bodies = (
        [qq({"url":"https://hooks.example.com/a","events":["*"],"secret":"$secret"x}), 'garbage after the string'],
        [qq({"url":"https://hooks.example.com/a","events":["*"],"secret":"$secret), 'unterminated string'],
        [qq({"url":"https://hooks.example.com/a","events":["*"],"secret" "$secret"}), 'missing colon'],
        [qq({"url":"https://hooks.example.com/a","events":["*"],"secret":"$secret\\q"}), 'invalid escape'],
        [qq({"url":"https://hooks.example.com/a","events":["*"],"secret":"$secret\x01"}), 'control character'],
        [qq({"url":"https://hooks.example.com/a" "$secret"}), 'missing comma before the string'],
        [qq({"resource":"room:1","label":"$secret\x01"}), 'control character in a label'],
    );
    for my $route ('/webhooks', '/keys') {
        for my $b (@bodies) {
            my $res = api($ng, 'POST', $route, $b->[0], key => $ADMIN);
            is($res->{status}, 400, "invalid JSON ($b->[1]) on $route: 400");
            ok(index($res->{content} // '', $tail) < 0, "invalid JSON ($b->[1]) on $route: the answer does not echo the secret")
                or diag("today: $res->{content}");
        }
    }
    $ng->log_lacks($tail, 'invalid JSON: the secret-looking string is not in the logs');
}

# --- expired keys do not count toward max_keys -----------------------------------------------------------

{
    is(api($ng, 'PUT', '/limits/room:exp', { max_keys => 2 }, key => $ADMIN)->{status}, 200, 'expiry: max_keys=2 for room:exp');
    my $exp = time + 2;
    my @k = map { create_key($ng, $ADMIN, resource => 'room:exp', scopes => ['read'], expires_at => int($exp) + 1) } 1 .. 2;
    my $res = api($ng, 'POST', '/keys', { resource => 'room:exp', scopes => ['read'] }, key => $ADMIN);
    is("$res->{status} " . (error_code($res) // ''), '409 limit_reached', 'expiry: a third live key: 409 limit_reached (control)');
    sleep 0.2 while time < $exp + 2.2;
    is(auth_get($ng, '/pub', $k[0]{key})->{status}, 401, 'expiry: the first key has expired (401)');
    $res = api($ng, 'POST', '/keys', { resource => 'room:exp', scopes => ['read'] }, key => $ADMIN);
    is($res->{status}, 201, 'expiry: with both keys expired, a new key fits under max_keys=2')
        or diag("today: $res->{status} $res->{content}");
}

$ng->log_is_clean('keys: no [alert]/[emerg]/[crit]');
$ng->stop;
done_testing;
