# The subscriptions API (README.md#rest-api, README.md#the-delivery-model): create, list, get, patch, delete of
# /webhooks; the secret shown once; tenant isolation between webhooks:manage
# keys; URL, timeout and events validation; the event-type catalog; plan
# limits; /events input; the deliveries list's parameters.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-api-7c2d41';

my $ng = delivery_nginx(admin => $ADMIN,
    zone  => 'max_webhooks=3',
    types => ['webhook_event_type room.on_air "Room goes on air" timeout=5s;',
              'webhook_event_type room.off_air;',
              'webhook_event_type ticket.sold "A ticket was sold";'],
);
$ng->start;

# A second instance with the defaults: https only, no private or loopback targets.
my $strict = WebhookTest::Nginx->new(vars => { ADMIN => $ADMIN }, conf => <<'EOF');
    webhook_zone zone=wh:1m;
    webhook_delivery location=/_webhook;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
        location /_webhook { internal; proxy_pass $webhook_url; proxy_set_header Host $webhook_host; }
    }
EOF
$strict->start;

my @secrets;
my $ts_re = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

sub no_secret_in($res, $name) {
    my @leaks = grep { index($res->{content}, $_) >= 0 } @secrets;
    ok(!@leaks, "$name: no endpoint secret in the body");
    my $has_field = 0;
    my $walk;
    $walk = sub ($x) {
        if (ref $x eq 'HASH') { $has_field ||= exists $x->{secret}; $walk->($_) for values %$x }
        elsif (ref $x eq 'ARRAY') { $walk->($_) for @$x }
    };
    $walk->($res->{json});
    ok(!$has_field, "$name: no \"secret\" field");
}

sub total($inst, $key, $query = '') {
    my $res = api($inst, 'GET', "/webhooks$query", undef, key => $key);
    return $res->{status} == 200 ? $res->{json}{total} : -1;
}

# --- create -----------------------------------------------------------------------

my $res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/hook', events => ['room.on_air', 'ticket.*'],
                                          name => 'Studio', description => "multi\nline ok" }, key => $ADMIN);
is($res->{status}, 201, 'POST /webhooks (admin): 201');
my $w1 = $res->{json};
push @secrets, $w1->{secret};
like($w1->{id}, qr/^wh_[0-9A-Za-z]+$/, 'id is wh_…');
like($w1->{secret}, qr/^whsec_[A-Za-z0-9+\/]+=*$/, 'a generated secret whsec_<base64> is returned at creation');
is($w1->{tenant}, 'default', 'the admin key without tenant creates for tenant "default"');
is($w1->{url}, 'http://127.0.0.1:9/hook', 'url echoed');
is_deeply($w1->{events}, ['room.on_air', 'ticket.*'], 'events echoed');
is($w1->{name}, 'Studio', 'name echoed');
is($w1->{description}, "multi\nline ok", 'description echoed');
is($w1->{timeout}, 2, 'timeout defaults to webhook_delivery timeout= (2s)');
ok($w1->{enabled} && ref $w1->{enabled}, 'enabled: true by default');
like($w1->{created_at}, $ts_re, 'created_at is RFC 3339');
like($w1->{updated_at}, $ts_re, 'updated_at is RFC 3339');
ok(exists $w1->{last_error} && !defined $w1->{last_error}, 'last_error null');
ok(exists $w1->{disabled_reason} && !defined $w1->{disabled_reason}, 'disabled_reason null');
is($res->{headers}{'cache-control'}, 'no-store', 'the answer carrying the secret is not cached');

my $own_secret = 'whsec_' . MIME::Base64::encode_base64('caller-chosen-secret-bytes!!', '');
$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/two', events => ['*'], secret => $own_secret,
                                       timeout => 7, enabled => JSON::PP::false(), tenant => 'acme' }, key => $ADMIN);
is($res->{status}, 201, 'POST /webhooks with a secret, timeout, enabled:false, tenant: 201');
my $w2 = $res->{json};
push @secrets, $own_secret;
ok(!exists $w2->{secret}, 'a supplied secret is not echoed');
is($w2->{tenant}, 'acme', 'tenant as given by the admin');
is($w2->{timeout}, 7, 'timeout as given');
ok(!$w2->{enabled}, 'enabled:false as given');
isnt($w1->{id}, $w2->{id}, 'ids differ');

$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/three', events => ['*'] }, key => $ADMIN);
push @secrets, $res->{json}{secret};
isnt($res->{json}{secret}, $w1->{secret}, 'two generated secrets differ');
my $w3 = $res->{json};

# --- read: never the secret ------------------------------------------------------------

$res = api($ng, 'GET', "/webhooks/$w1->{id}", undef, key => $ADMIN);
is($res->{status}, 200, 'GET /webhooks/{id}: 200');
is($res->{json}{id}, $w1->{id}, 'GET /webhooks/{id}: the webhook');
is_deeply($res->{json}{events}, $w1->{events}, 'GET /webhooks/{id}: its events');
no_secret_in($res, 'GET /webhooks/{id}');

$res = api($ng, 'GET', '/webhooks', undef, key => $ADMIN);
is($res->{status}, 200, 'GET /webhooks: 200');
no_secret_in($res, 'GET /webhooks');
$res = api($ng, 'GET', '/webhooks?tenant=acme', undef, key => $ADMIN);
is($res->{json}{total}, 1, 'GET /webhooks?tenant=acme: total 1');
is_deeply([map { $_->{id} } @{ $res->{json}{webhooks} }], [$w2->{id}], 'GET /webhooks?tenant=acme: its webhook');
$res = api($ng, 'GET', '/webhooks?tenant=default', undef, key => $ADMIN);
is_deeply([sort map { $_->{id} } @{ $res->{json}{webhooks} }], [sort $w1->{id}, $w3->{id}], 'GET /webhooks?tenant=default: two');
is(api($ng, 'GET', '/webhooks/wh_doesnotexist', undef, key => $ADMIN)->{status}, 404, 'GET unknown id: 404');
is(error_code(api($ng, 'GET', '/webhooks/wh_doesnotexist', undef, key => $ADMIN)), 'not_found', '… not_found');

# --- patch --------------------------------------------------------------------------------

sleep 1.1;   # updated_at moves
$res = api($ng, 'PATCH', "/webhooks/$w1->{id}", { name => 'Studio 2', events => ['room.*'], timeout => 30 }, key => $ADMIN);
is($res->{status}, 200, 'PATCH: 200');
is($res->{json}{name}, 'Studio 2', 'PATCH: name changed');
is_deeply($res->{json}{events}, ['room.*'], 'PATCH: events changed');
is($res->{json}{timeout}, 30, 'PATCH: timeout changed');
is($res->{json}{url}, $w1->{url}, 'PATCH: url kept');
is($res->{json}{description}, $w1->{description}, 'PATCH: description kept');
is($res->{json}{created_at}, $w1->{created_at}, 'PATCH: created_at kept');
isnt($res->{json}{updated_at}, $w1->{updated_at}, 'PATCH: updated_at moved');
no_secret_in($res, 'PATCH answer');

$res = api($ng, 'PATCH', "/webhooks/$w1->{id}", { enabled => JSON::PP::false() }, key => $ADMIN);
ok(!$res->{json}{enabled}, 'PATCH enabled:false');
ok(defined $res->{json}{disabled_reason} && length $res->{json}{disabled_reason}, 'PATCH enabled:false: a disabled_reason');
$res = api($ng, 'PATCH', "/webhooks/$w1->{id}", { enabled => JSON::PP::true() }, key => $ADMIN);
ok($res->{json}{enabled}, 'PATCH enabled:true');
ok(!defined $res->{json}{disabled_reason}, 'PATCH enabled:true clears disabled_reason');

my $before = api($ng, 'GET', "/webhooks/$w1->{id}", undef, key => $ADMIN)->{content};
for my $case (
    [{ secret => 'whsec_AAAAAAAAAAAAAAAA' }, 'secret (use rotate-secret)'],
    [{ tenant => 'other' }, 'tenant'],
    [{ bogus => 1 }, 'an unknown field'],
    [{ url => 'ftp://127.0.0.1/' }, 'a bad url'],
    [{ url => undef }, 'url null'],
    [{ events => [] }, 'empty events'],
    [{ timeout => 0 }, 'timeout 0'],
    [{ enabled => 'yes' }, 'enabled not a boolean'],
    [{ name => "a\r\nb" }, 'a name with CR/LF'],
    [{ name => 'ok', timeout => 99 }, 'a good name with a bad timeout'],
) {
    my ($body, $what) = @$case;
    $res = api($ng, 'PATCH', "/webhooks/$w1->{id}", $body, key => $ADMIN);
    is($res->{status}, 400, "PATCH with $what: 400");
    is(error_code($res), 'invalid_request', "PATCH with $what: invalid_request");
}
is(api($ng, 'GET', "/webhooks/$w1->{id}", undef, key => $ADMIN)->{content}, $before, 'rejected PATCHes changed nothing');
is(api($ng, 'PATCH', '/webhooks/wh_nope', { name => 'x' }, key => $ADMIN)->{status}, 404, 'PATCH unknown id: 404');

# --- delete ---------------------------------------------------------------------------------

$res = api($ng, 'DELETE', "/webhooks/$w3->{id}", undef, key => $ADMIN);
is($res->{status}, 204, 'DELETE: 204');
is($res->{content} // '', '', 'DELETE: no body');
is(api($ng, 'GET', "/webhooks/$w3->{id}", undef, key => $ADMIN)->{status}, 404, 'GET after DELETE: 404');
is(api($ng, 'DELETE', "/webhooks/$w3->{id}", undef, key => $ADMIN)->{status}, 404, 'DELETE twice: 404');
is(total($ng, $ADMIN, '?tenant=default'), 1, 'the list no longer has it');

# --- callers and tenants ----------------------------------------------------------------------

my $ka = create_key($ng, $ADMIN, resource => 'tenant-a', scopes => ['webhooks:manage']);
my $kb = create_key($ng, $ADMIN, resource => 'tenant-b', scopes => ['webhooks:manage']);
my $kpub = create_key($ng, $ADMIN, resource => 'tenant-a', scopes => ['events:publish']);
my $kread = create_key($ng, $ADMIN, resource => 'tenant-a', scopes => ['readwrite']);
my $kstar = create_key($ng, $ADMIN, resource => '*', scopes => ['webhooks:manage']);

is(api($ng, 'GET', '/webhooks')->{status}, 401, 'no key: 401');
is(error_code(api($ng, 'GET', '/webhooks')), 'missing_api_key', 'no key: missing_api_key');
is(api($ng, 'GET', '/webhooks', undef, key => 'sk_nope')->{status}, 401, 'unknown key: 401');

my $wa = create_webhook($ng, $ka->{key}, url => 'http://127.0.0.1:9/a', events => ['*']);
push @secrets, $wa->{secret};
is($wa->{tenant}, 'tenant-a', 'a manage key creates for its own resource');
my $wb = create_webhook($ng, $kb->{key}, url => 'http://127.0.0.1:9/b', events => ['*']);
push @secrets, $wb->{secret};
is($wb->{tenant}, 'tenant-b', 'the other key for its own');

$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/x', events => ['*'], tenant => 'tenant-b' }, key => $ka->{key});
is($res->{status}, 403, "key A creating for tenant B: 403");
is(error_code($res), 'forbidden_resource', '… forbidden_resource');
$res = api($ng, 'GET', '/webhooks', undef, key => $ka->{key});
is_deeply([map { $_->{id} } @{ $res->{json}{webhooks} }], [$wa->{id}], 'key A lists only tenant A');
is(api($ng, 'GET', '/webhooks?tenant=tenant-b', undef, key => $ka->{key})->{status}, 403, 'key A listing ?tenant=tenant-b: 403');
for my $case (['GET', "/webhooks/$wb->{id}"], ['PATCH', "/webhooks/$wb->{id}", { name => 'pwned' }],
              ['DELETE', "/webhooks/$wb->{id}"], ['POST', "/webhooks/$wb->{id}/rotate-secret"],
              ['POST', "/webhooks/$wb->{id}/test"], ['GET', "/webhooks/$wb->{id}/deliveries"]) {
    my ($m, $p, $b) = @$case;
    my $r = api($ng, $m, $p, $b, key => $ka->{key});
    ok($r->{status} == 404 || $r->{status} == 403, "key A: $m $p of tenant B: 404/403 (got $r->{status})");
}
$res = api($ng, 'GET', "/webhooks/$wb->{id}", undef, key => $kb->{key});
is($res->{json}{name}, undef, "B's webhook was not renamed by A");
is($res->{status}, 200, "B's webhook still exists");
is(api($ng, 'GET', "/webhooks/$wa->{id}", undef, key => $ka->{key})->{status}, 200, 'key A reads its own webhook');
is(api($ng, 'GET', "/webhooks/$w1->{id}", undef, key => $ka->{key})->{status}, 404, "key A cannot read tenant default's");

$res = api($ng, 'GET', '/webhooks', undef, key => $kstar->{key});
ok($res->{json}{total} >= 4, 'a key with resource * lists every tenant');

$res = api($ng, 'GET', '/webhooks', undef, key => $kpub->{key});
is($res->{status}, 403, 'an events:publish key: GET /webhooks 403');
is(error_code($res), 'insufficient_scope', '… insufficient_scope');
is(api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/p', events => ['*'] }, key => $kpub->{key})->{status}, 403,
   'an events:publish key: POST /webhooks 403');
$res = api($ng, 'POST', '/events', { type => 'room.on_air', data => {} }, key => $kpub->{key});
is($res->{status}, 202, 'an events:publish key: POST /events 202');
$res = api($ng, 'POST', '/events', { type => 'room.on_air', tenant => 'tenant-b', data => {} }, key => $kpub->{key});
is($res->{status}, 403, 'an events:publish key of tenant A publishing for tenant B: 403');
is(api($ng, 'GET', '/webhooks', undef, key => $kread->{key})->{status}, 403, 'a readwrite key: 403 on /webhooks');
is(api($ng, 'POST', '/events', { type => 'room.on_air', data => {} }, key => $kread->{key})->{status}, 403,
   'a readwrite key: 403 on /events');

# --- URL validation ---------------------------------------------------------------------------

my $n_default = total($ng, $ADMIN);
for my $case (
    ['ftp://127.0.0.1/x', 'ftp scheme'],
    ['/relative/path', 'a relative URL'],
    ['127.0.0.1:9/x', 'no scheme'],
    ['http://user:pw@127.0.0.1:9/x', 'credentials'],
    ['http://127.0.0.1:9/x#frag', 'a fragment'],
    ['http://127.0.0.1:9/' . ('a' x 2030), 'more than 2048 bytes'],
    ['http://127.0.0.1:99999/x', 'a port out of range'],
    ['http://exa mple.com/', 'a space'],
    ['http:///nohost', 'no host'],
    ['', 'empty'],
) {
    my ($url, $what) = @$case;
    $res = api($ng, 'POST', '/webhooks', { url => $url, events => ['*'] }, key => $ADMIN);
    is($res->{status}, 400, "url with $what: 400");
    is(error_code($res), 'invalid_request', "url with $what: invalid_request");
    like($res->{json}{error}{message} // '', qr/url/, "url with $what: the message names url");
}
$res = api($ng, 'POST', '/webhooks', { url => 42, events => ['*'] }, key => $ADMIN);
is($res->{status}, 400, 'url not a string: 400');
$res = api($ng, 'POST', '/webhooks', { events => ['*'] }, key => $ADMIN);
is($res->{status}, 400, 'url missing: 400');
my $long = 'http://127.0.0.1:9/' . ('b' x (2048 - length 'http://127.0.0.1:9/'));
is(length $long, 2048, '(a URL of exactly 2048 bytes)');
$res = api($ng, 'POST', '/webhooks', { url => $long, events => ['*'], tenant => 'long' }, key => $ADMIN);
is($res->{status}, 201, 'a URL of exactly 2048 bytes: 201');
is($res->{json}{url}, $long, '… kept whole');
push @secrets, $res->{json}{secret};
is(total($ng, $ADMIN), $n_default + 1, 'rejected URLs created nothing');

# The strict instance: https required, loopback/private literals refused.
$res = api($strict, 'POST', '/webhooks', { url => 'http://example.com/hook', events => ['*'] }, key => $ADMIN);
ok($res->{status} == 400 || $res->{status} == 422, "http:// without allow_http: refused (got $res->{status})");
like($res->{json}{error}{message} // '', qr/https/, '… the message says https is needed');
for my $url ('https://127.0.0.1/x', 'https://127.1.2.3:8443/x', 'https://10.0.0.1/x', 'https://192.168.1.1/x',
             'https://169.254.169.254/latest', 'https://[::1]/x', 'https://[fe80::1]/x', 'https://0.0.0.0/x',
             'https://[::ffff:127.0.0.1]/x', 'https://localhost/x') {
    $res = api($strict, 'POST', '/webhooks', { url => $url, events => ['*'] }, key => $ADMIN);
    is($res->{status}, 422, "$url without allow_private: 422");
    is(error_code($res), 'url_not_allowed', "$url: url_not_allowed");
}
$res = api($strict, 'POST', '/webhooks', { url => 'https://hooks.example.com/in?x=1', events => ['*'] }, key => $ADMIN);
is($res->{status}, 201, 'a public https URL: 201');
push @secrets, $res->{json}{secret};
$res = api($strict, 'POST', '/webhooks', { url => 'https://93.184.216.34:8443/in', events => ['*'] }, key => $ADMIN);
is($res->{status}, 201, 'a public IP literal with a port: 201');
push @secrets, $res->{json}{secret};
is(total($strict, $ADMIN), 2, 'strict instance: only the two accepted webhooks exist');

# A refused URL names the webhook_delivery parameter that would allow it.
sub url_message($n, $url) {
    my $r = api($n, 'POST', '/webhooks', { url => $url, events => ['*'] }, key => $ADMIN);
    return "$r->{status} " . (error_code($r) // '') . ': ' . ($r->{json}{error}{message} // '');
}
is(url_message($strict, 'http://example.com/hook'),
   '422 url_not_allowed: url must use https://: http:// URLs need webhook_delivery allow_http=on', 'http:// names allow_http=on');
is(url_message($strict, 'ftp://example.com/'), '400 invalid_request: url must be an absolute https:// URL',
   'ftp:// without allow_http: https:// only');
is(url_message($ng, 'ftp://example.com/'), '400 invalid_request: url must be an absolute https:// or http:// URL',
   'ftp:// with allow_http=on: https:// or http://');
is(url_message($strict, 'https://127.0.0.1/x'),
   '422 url_not_allowed: url points to 127.0.0.1, a loopback address: list it with webhook_delivery allow=127.0.0.1/32 '
   . 'or set allow_private=on', '127.0.0.1 names allow=127.0.0.1/32 and allow_private=on');
is(url_message($strict, 'https://[fe80::1]/x'),
   '422 url_not_allowed: url points to fe80::1, a link-local address: list it with webhook_delivery allow=fe80::1/128 '
   . 'or set allow_private=on', 'fe80::1 names allow=fe80::1/128');
is(url_message($strict, 'https://10.0.0.1/x') =~ s/:.*//r, '422 url_not_allowed', '10.0.0.1: url_not_allowed');
like(url_message($strict, 'https://10.0.0.1/x'), qr/10\.0\.0\.1, a private address: list it with webhook_delivery allow=10\.0\.0\.1\/32 /,
     '10.0.0.1: a private address');
like(url_message($strict, 'https://localhost/x'), qr/localhost, a loopback address: list it with webhook_delivery allow=127\.0\.0\.1\/32 /,
     'localhost: a loopback name, opened as 127.0.0.1');

# --- status lines and bodies -------------------------------------------------------------------

# NGINX has no reason phrase for 422: the module sends RFC 9110's. Every JSON
# body ends with exactly one newline.
sub raw_api($n, $method, $path, $body = undef) {
    my %h = (Authorization => "Bearer $ADMIN");
    $h{'Content-Type'} = 'application/json' if defined $body;
    return WebhookTest::raw_request($n->port, WebhookTest::raw_http($method, "/v1$path", \%h, $body));
}
{
    my $r = raw_api($strict, 'POST', '/webhooks', '{"url":"https://127.0.0.1/x","events":["*"]}');
    like($r->{raw}, qr{\AHTTP/1\.1 422 Unprocessable Content\r\n}, 'a 422 has its reason phrase');
    like($r->{content}, qr/\}\n\z/, '422: the body ends with a newline');
    $r = raw_api($strict, 'GET', '/nope');
    like($r->{raw}, qr{\AHTTP/1\.1 404 Not Found\r\n}, 'a 404 keeps NGINX\'s');
    for my $case (['GET', '/webhooks', undef, 200], ['GET', '/nope', undef, 404], ['PATCH', '/webhooks', '{}', 405],
                  ['POST', '/webhooks', '{"url":"https://hooks.example.com/b","events":["*"]}', 201],
                  ['POST', '/webhooks', '{', 400]) {
        my ($method, $path, $body, $status) = @$case;
        $r = raw_api($strict, $method, $path, $body);
        is($r->{status}, $status, "$method $path: $status");
        like($r->{content}, qr/[\]\}]\n\z/, "$method $path: the JSON body ends with a newline");
        unlike($r->{content}, qr/\n\n\z/, "$method $path: with one newline");
        push @secrets, json_decode($r->{content})->{secret} if $status == 201;
    }
    my $id = api($strict, 'GET', '/webhooks', undef, key => $ADMIN)->{json}{webhooks}[-1]{id};
    $r = raw_api($strict, 'DELETE', "/webhooks/$id");
    is($r->{status}, 204, 'DELETE: 204');
    is($r->{content}, '', '204: no body at all');
}

# --- timeout, events, fields -------------------------------------------------------------------

for my $case ([0, 400], [31, 400], [-1, 400], ['5', 400], [1.5, 400], [1, 201], [30, 201]) {
    my ($t, $want) = @$case;
    $res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/t', events => ['*'], timeout => $t, tenant => "t$want$t" },
               key => $ADMIN);
    is($res->{status}, $want, "timeout " . (ref \$t eq 'SCALAR' && $t =~ /^\d+$/ ? $t : "\"$t\"") . ": $want");
    like($res->{json}{error}{message} // '', qr/timeout/, '… the message names timeout') if $want == 400;
    is($res->{json}{timeout}, $t, '… timeout echoed') if $want == 201;
    push @secrets, $res->{json}{secret} if $want == 201;
}

for my $case (
    [undef, 400, 'missing events'],
    [[], 400, 'empty events'],
    ['room.on_air', 400, 'events not an array'],
    [['Room.On_Air'], 400, 'uppercase type'],
    [['room on air'], 400, 'a space'],
    [[42], 400, 'a number'],
    [['.room'], 400, 'a leading dot'],
    [['room.*.x'], 400, 'a glob not at the end'],
    [[map { "room.on_air" } 1 .. 65], 400, '65 entries'],
    [['room.started'], 422, 'a type outside the catalog'],
    [['billing.*'], 422, 'a prefix matching nothing in the catalog'],
    [['room.on_air', 'nope.x'], 422, 'one unknown among known'],
    [['room.on_air'], 201, 'an exact type of the catalog'],
    [['room.*'], 201, 'a prefix of the catalog'],
    [['*'], 201, '*'],
    [['room.on_air', 'ticket.sold', 'room.off_air'], 201, 'several exact types'],
) {
    my ($events, $want, $what) = @$case;
    my %body = (url => 'http://127.0.0.1:9/e', tenant => 'events-' . ($what =~ s/\W/_/gr));
    $body{events} = $events if defined $events;
    $res = api($ng, 'POST', '/webhooks', \%body, key => $ADMIN);
    is($res->{status}, $want, "events: $what: $want");
    is(error_code($res), 'unknown_event_type', "events: $what: unknown_event_type") if $want == 422;
    is_deeply($res->{json}{events}, $events, "events: $what: echoed") if $want == 201;
    push @secrets, $res->{json}{secret} if $want == 201;
}

for my $case (
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], colour => 'red' }, 400, 'an unknown field', qr/colour/],
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], secret => 'short' }, 400, 'a secret under 8 bytes', qr/secret/],
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], secret => "abc\ndefghij" }, 400, 'a secret with LF', qr/secret/],
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], name => 'x' x 201 }, 400, 'a name over 200 bytes', qr/name/],
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], name => 7 }, 400, 'a name that is a number', qr/name/],
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], tenant => '' }, 400, 'an empty tenant', qr/tenant/],
    [{ url => 'http://127.0.0.1:9/f', events => ['*'], enabled => 1 }, 400, 'enabled: 1', qr/enabled/],
    [[1, 2], 400, 'an array body', qr/object/],
) {
    my ($body, $want, $what, $msg) = @$case;
    $res = api($ng, 'POST', '/webhooks', $body, key => $ADMIN);
    is($res->{status}, $want, "POST /webhooks with $what: $want");
    is(error_code($res), 'invalid_request', "… invalid_request");
    like($res->{json}{error}{message} // '', $msg, '… the message names the field');
}
$res = api($ng, 'POST', '/webhooks', '{"url":', key => $ADMIN);
is($res->{status}, 400, 'broken JSON: 400');
is(error_code($res), 'invalid_json', '… invalid_json');
$res = api($ng, 'POST', '/webhooks', '{"url":"http://127.0.0.1:9/","events":["*"]}', key => $ADMIN, content_type => 'text/plain');
is($res->{status}, 415, 'text/plain body: 415');
is(error_code($res), 'unsupported_media_type', '… unsupported_media_type');
is(api($ng, 'PUT', '/webhooks', undef, key => $ADMIN)->{status}, 405, 'PUT /webhooks: 405');
is(api($ng, 'POST', "/webhooks/$w1->{id}", { name => 'x' }, key => $ADMIN)->{status}, 405, 'POST /webhooks/{id}: 405');

# --- plan limits ---------------------------------------------------------------------------------

my @lim;
push @lim, create_webhook($ng, $ADMIN, url => "http://127.0.0.1:9/l$_", events => ['*'], tenant => 'lim') for 1 .. 3;
push @secrets, map { $_->{secret} } @lim;
$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/l4', events => ['*'], tenant => 'lim' }, key => $ADMIN);
is($res->{status}, 409, 'the 4th webhook of a tenant with max_webhooks=3: 409');
is(error_code($res), 'limit_reached', '… limit_reached');
is(total($ng, $ADMIN, '?tenant=lim'), 3, '… still 3');
my $other = create_webhook($ng, $ADMIN, url => 'http://127.0.0.1:9/o', events => ['*'], tenant => 'lim-other');
push @secrets, $other->{secret};
ok($other->{id}, 'another tenant is not affected');
$res = api($ng, 'PUT', '/limits/lim', { max_webhooks => 5 }, key => $ADMIN);
is($res->{status}, 200, 'PUT /limits/lim {max_webhooks:5}: 200');
$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/l4', events => ['*'], tenant => 'lim' }, key => $ADMIN);
is($res->{status}, 201, 'after raising the limit: the 4th webhook is created');
push @secrets, $res->{json}{secret};
api($ng, 'DELETE', "/webhooks/$lim[0]{id}", undef, key => $ADMIN);
$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/l5', events => ['*'], tenant => 'lim' }, key => $ADMIN);
is($res->{status}, 201, 'a deleted webhook frees its place');
push @secrets, $res->{json}{secret};
$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/l6', events => ['*'], tenant => 'lim' }, key => $ADMIN);
is($res->{status}, 201, 'the 5th with max_webhooks=5: 201');
push @secrets, $res->{json}{secret};
$res = api($ng, 'POST', '/webhooks', { url => 'http://127.0.0.1:9/l7', events => ['*'], tenant => 'lim' }, key => $ADMIN);
is($res->{status}, 409, 'the 6th with max_webhooks=5: 409');
is(total($ng, $ADMIN, '?tenant=lim'), 5, '… 5 webhooks');
my $kl = create_key($ng, $ADMIN, resource => 'lim', scopes => ['webhooks:manage']);
is(api($ng, 'PUT', '/limits/lim', { max_webhooks => 50 }, key => $kl->{key})->{status}, 403,
   'a manage key cannot raise its own limit');

# --- the event-type catalog ----------------------------------------------------------------------

$res = api($ng, 'GET', '/event-types', undef, key => $ADMIN);
is($res->{status}, 200, 'GET /event-types: 200');
is($res->{json}{total}, 7, 'GET /event-types: total 7 (3 declared, 4 operational)');
my @declared = grep { !$_->{operational} } @{ $res->{json}{event_types} };
is_deeply(\@declared, [
    { type => 'room.on_air', description => 'Room goes on air', timeout => 5, operational => JSON::PP::false() },
    { type => 'room.off_air', description => undef, timeout => undef, operational => JSON::PP::false() },
    { type => 'ticket.sold', description => 'A ticket was sold', timeout => undef, operational => JSON::PP::false() },
], 'GET /event-types: the catalog in configuration order');
is_deeply([map { $_->{type} } @{ $res->{json}{event_types} }[3 .. 6]],
          [qw(webhook.endpoint.disabled webhook.endpoint.enabled webhook.endpoint.failing webhook.delivery.failed)],
          'GET /event-types: then the operational types (t/deliver/operational.t)');
is(api($ng, 'GET', '/event-types', undef, key => $kpub->{key})->{status}, 200, 'GET /event-types with any valid key');
is(api($ng, 'GET', '/event-types')->{status}, 401, 'GET /event-types without a key: 401');
$res = api($strict, 'GET', '/event-types', undef, key => $ADMIN);
is_deeply([map { $_->{type} } grep { !$_->{operational} } @{ $res->{json}{event_types} }], [],
          'no webhook_event_type: no declared types');
is($res->{json}{total}, 4, 'no webhook_event_type: the operational types only');

# --- /events input ---------------------------------------------------------------------------------

for my $case (
    [{ data => {} }, 400, 'invalid_request', 'no type'],
    [{ type => 'Room.On', data => {} }, 400, 'invalid_request', 'an uppercase type'],
    [{ type => 'room.*', data => {} }, 400, 'invalid_request', 'a glob as type'],
    [{ type => 'room.on_air', data => {}, extra => 1 }, 400, 'invalid_request', 'an unknown field'],
    [{ type => 'room.started', data => {} }, 422, 'unknown_event_type', 'a type outside the catalog'],
    [{ type => 'room.on_air', tenant => 5, data => {} }, 400, 'invalid_request', 'a numeric tenant'],
) {
    my ($body, $want, $code, $what) = @$case;
    $res = api($ng, 'POST', '/events', $body, key => $ADMIN);
    is($res->{status}, $want, "POST /events with $what: $want");
    is(error_code($res), $code, "… $code");
}
$res = api($ng, 'POST', '/events', { type => 'room.on_air', data => {} }, key => $ADMIN, headers => { 'Idempotency-Key' => 'x' x 256 });
is($res->{status}, 400, 'an Idempotency-Key over 255 bytes: 400');
$res = api($ng, 'POST', '/events', { type => 'room.off_air' }, key => $ADMIN);
is($res->{status}, 202, 'POST /events without data: 202');
like($res->{json}{id}, qr/^evt_[0-9A-Za-z]+$/, 'event id is evt_…');
$res = api($strict, 'POST', '/events', { type => 'anything.goes', data => [1, 2] }, key => $ADMIN);
is($res->{status}, 202, 'without a catalog any valid type is accepted');
is($res->{json}{deliveries}, 0, '… to no endpoint (none subscribed to tenant default are enabled there)')
    if total($strict, $ADMIN, '?tenant=default') == 0;

# --- the deliveries list's parameters ----------------------------------------------------------------

for my $q ('?status=done', '?limit=0', '?limit=1001', '?limit=abc') {
    $res = api($ng, 'GET', "/webhooks/$w1->{id}/deliveries$q", undef, key => $ADMIN);
    is($res->{status}, 400, "GET deliveries$q: 400");
}
$res = api($ng, 'GET', "/webhooks/$w1->{id}/deliveries", undef, key => $ADMIN);
is($res->{status}, 200, 'GET deliveries: 200');
is(ref $res->{json}{deliveries}, 'ARRAY', '… a deliveries array');
is(api($ng, 'GET', '/webhooks/wh_nope/deliveries', undef, key => $ADMIN)->{status}, 404, 'GET deliveries of an unknown webhook: 404');
is(api($ng, 'GET', '/deliveries/dlv_nope', undef, key => $ADMIN)->{status}, 404, 'GET /deliveries/unknown: 404');
is(api($ng, 'POST', '/deliveries/dlv_nope/replay', undef, key => $ADMIN)->{status}, 404, 'replay of an unknown delivery: 404');
is(api($ng, 'POST', '/webhooks/wh_nope/rotate-secret', undef, key => $ADMIN)->{status}, 404, 'rotate-secret of an unknown webhook: 404');
is(api($ng, 'POST', '/webhooks/wh_nope/test', undef, key => $ADMIN)->{status}, 404, 'test of an unknown webhook: 404');

# --- the event type's timeout= wins over the endpoint's -----------------------------------------------

my $recv = DeliveryTest::ScriptedReceiver->start;
$recv->script('/slow', [{ status => 200, sleep => 2.5 }]);
my $tw = create_webhook($ng, $ADMIN, url => $recv->url('/slow'), events => ['room.*'], tenant => 'typed', timeout => 1);
my $e_on = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'typed', data => {});    # timeout=5s
my $e_off = publish($ng, $ADMIN, type => 'room.off_air', tenant => 'typed', data => {});  # the endpoint's 1s
my $d_on = wait_delivery($ng, $ADMIN, $tw->{id}, $e_on->{id}, timeout => 20);
my $d_off = wait_delivery($ng, $ADMIN, $tw->{id}, $e_off->{id}, timeout => 20);
is($d_on->{status}, 'succeeded', 'room.on_air (type timeout=5s) waits for a 2.5 s receiver: succeeded');
is($d_off->{status}, 'failed', 'room.off_air (endpoint timeout 1) gives up on a 2.5 s receiver: failed');
is($d_off->{error}, 'timeout', '… with error timeout');

# --- logs ---------------------------------------------------------------------------------------------

$ng->log_is_clean;
$strict->log_is_clean('strict instance: error log has no [alert]/[emerg]/[crit]');
for my $s (grep { defined } @secrets) {
    (my $b64 = $s) =~ s/^whsec_//;
    $ng->log_lacks($b64, 'no endpoint secret in the logs') or last;
}

done_testing;
