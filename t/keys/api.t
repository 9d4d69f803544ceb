# The /keys and /limits API: create, list, get, revoke; no key material after
# creation; who may do what (admin key, webhooks:manage keys confined to their
# resource, wildcard `*`, keys without the scope); plan limits with PUT /limits.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest qw(:all);
use POSIX ();
use File::Temp ();

my $ADMIN = 'admin-key-api-t-5b1c9e';

my $backend = WebhookTest::Backend->start;
my $ng = api_nginx(admin => $ADMIN, size => '1m', guard => 1, vars => { BACKEND => $backend->port });
$ng->start;

my @secrets;   # every key string handed out, to check the logs at the end

# --- create ------------------------------------------------------------------------

my $t0 = time;
my $res = api($ng, 'POST', '/keys', { resource => 'room:1', scopes => ['read', 'readwrite'], label => 'CI bot' },
              key => $ADMIN);
is($res->{status}, 201, 'POST /keys with the admin key: 201');
my $k1 = $res->{json};
push @secrets, $k1->{key};
like($k1->{key}, qr/^sk_[0-9A-Za-z]{40}$/, 'key is sk_ + 40 base62 characters');
like($k1->{id}, qr/^key_[0-9A-Za-z]+$/, 'id is key_…');
is($k1->{prefix}, substr($k1->{key}, 0, 8), 'prefix is the first characters of the key');
is($k1->{resource}, 'room:1', 'resource echoed');
is_deeply($k1->{scopes}, ['read', 'readwrite'], 'scopes echoed');
is($k1->{label}, 'CI bot', 'label echoed');
like($k1->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'created_at is RFC 3339');
ok(exists $k1->{expires_at} && !defined $k1->{expires_at}, 'expires_at is null without expiry');
is($res->{headers}{'cache-control'}, 'no-store', 'the answer carrying the key has Cache-Control: no-store');
like($res->{headers}{'content-type'}, qr{^application/json}, 'Content-Type application/json');

my $exp_t = time + 86400 * 30;
my $k2 = create_key($ng, $ADMIN, resource => 'room:1', scopes => ['webhooks:manage'],
                    expires_at => POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $exp_t));
push @secrets, $k2->{key};
is($k2->{expires_at}, POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $exp_t), 'expires_at (RFC 3339) echoed');
my $k3 = create_key($ng, $ADMIN, resource => 'room:2', scopes => ['read'], expires_at => $exp_t);
push @secrets, $k3->{key};
is($k3->{expires_at}, POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $exp_t), 'expires_at as a unix integer accepted');
isnt($k1->{key}, $k2->{key}, 'two keys differ');
isnt($k1->{id}, $k2->{id}, 'two ids differ');

# The key authenticates at api_key_auth.
is(auth_get($ng, '/r', $k1->{key})->{status}, 200, 'the new key authenticates (Bearer)');
is(WebhookTest::http_get($ng->url('/r'), { 'X-API-Key' => $k3->{key} })->{status}, 200,
   'the new key authenticates (X-API-Key)');

# --- list and get never show key material -----------------------------------------------

sub no_secrets($res, $name) {
    my $leak = grep { index($res->{content}, $_) >= 0 } @secrets;
    ok(!$leak, "$name: no key string in the body");
    my @with_key;
    my $walk;
    $walk = sub ($x) {
        if (ref $x eq 'HASH') { push @with_key, $x if exists $x->{key}; $walk->($_) for values %$x }
        elsif (ref $x eq 'ARRAY') { $walk->($_) for @$x }
    };
    $walk->($res->{json});
    ok(!@with_key, "$name: no \"key\" field");
}

$res = api($ng, 'GET', '/keys', undef, key => $ADMIN);
is($res->{status}, 200, 'GET /keys: 200');
is($res->{json}{total}, 3, 'GET /keys: total 3');
is(scalar @{ $res->{json}{keys} }, 3, 'GET /keys: 3 keys');
is_deeply([sort map { $_->{id} } @{ $res->{json}{keys} }], [sort map { $_->{id} } $k1, $k2, $k3], 'GET /keys: the ids');
no_secrets($res, 'GET /keys');

$res = api($ng, 'GET', '/keys?resource=room:1', undef, key => $ADMIN);
is($res->{json}{total}, 2, 'GET /keys?resource=room:1: total 2');
is_deeply([sort map { $_->{resource} } @{ $res->{json}{keys} }], ['room:1', 'room:1'], 'only room:1 keys');
no_secrets($res, 'GET /keys?resource=');

$res = api($ng, 'GET', '/keys?resource=room%3A2', undef, key => $ADMIN);
is($res->{json}{total}, 1, 'resource= is URL-decoded (room%3A2)');

$res = api($ng, 'GET', '/keys?resource=nobody', undef, key => $ADMIN);
is_deeply([$res->{status}, $res->{json}{total}, scalar @{ $res->{json}{keys} }], [200, 0, 0], 'unknown resource: empty list');

# pagination: limit and after
$res = api($ng, 'GET', '/keys?limit=2', undef, key => $ADMIN);
is(scalar @{ $res->{json}{keys} }, 2, 'limit=2: two keys');
is($res->{json}{total}, 3, 'limit=2: total still 3');
my $last = $res->{json}{keys}[-1]{id};
$res = api($ng, 'GET', "/keys?limit=2&after=$last", undef, key => $ADMIN);
is(scalar @{ $res->{json}{keys} }, 1, 'after=<last id>: the remaining key');
my %seen = map { $_->{id} => 1 } @{ $res->{json}{keys} };
ok(!$seen{$last}, 'after=: the cursor key itself is not repeated');
$res = api($ng, 'GET', '/keys?after=key_NoSuchKey0000000', undef, key => $ADMIN);
is($res->{status}, 400, 'after=<unknown id>: 400');
like($res->{json}{error}{message} // '', qr/after/, 'after=<unknown id>: the message names after');
is(api($ng, 'GET', '/keys?limit=0', undef, key => $ADMIN)->{status}, 400, 'limit=0: 400');
is(error_code(api($ng, 'GET', '/keys?limit=abc', undef, key => $ADMIN)), 'invalid_request', 'limit=abc: invalid_request');

$res = api($ng, 'GET', "/keys/$k1->{id}", undef, key => $ADMIN);
is($res->{status}, 200, 'GET /keys/{id}: 200');
is($res->{json}{id}, $k1->{id}, 'GET /keys/{id}: the id');
is($res->{json}{prefix}, $k1->{prefix}, 'GET /keys/{id}: the prefix');
is_deeply($res->{json}{scopes}, ['read', 'readwrite'], 'GET /keys/{id}: scopes');
is($res->{json}{label}, 'CI bot', 'GET /keys/{id}: label');
is($res->{json}{created_at}, $k1->{created_at}, 'GET /keys/{id}: created_at');
no_secrets($res, 'GET /keys/{id}');
ok(!exists $res->{json}{hash}, 'GET /keys/{id}: no hash field');

is(api($ng, 'GET', '/keys/key_doesnotexist00', undef, key => $ADMIN)->{status}, 404, 'GET unknown id: 404');
is(error_code(api($ng, 'GET', '/keys/key_doesnotexist00', undef, key => $ADMIN)), 'not_found', 'GET unknown id: not_found');

# --- callers ---------------------------------------------------------------------------------

my $mark = $ng->log_mark;
$res = api($ng, 'GET', '/keys', undef);
is_deeply([$res->{status}, error_code($res)], [401, 'missing_api_key'], 'no key: 401 missing_api_key');
like($res->{json}{error}{message}, qr/Authorization: Bearer <key> or X-API-Key: <key>/, 'no key: the message names the headers');
# One log line per refusal, as api_key_auth's and webhook_verify's: the code and a short reason, no JSON.
{
    my @l = $ng->wait_log($mark, qr/webhook_api/);
    is(scalar @l, 1, 'no key: one log line');
    like($l[0] // '', qr/\[info\].*webhook_api refused: 401 missing_api_key: an API key is required: /, 'no key: the log line');
    unlike($l[0] // '', qr/\{"error"/, 'no key: the log line is not the JSON body');
}
$res = api($ng, 'GET', '/keys', undef, key => "$ADMIN-wrong");
is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'wrong admin key: 401 invalid_api_key');
$res = api($ng, 'GET', '/keys', undef, key => substr($ADMIN, 0, -1));
is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'admin key minus one character: 401');
$res = api($ng, 'POST', '/keys', { resource => 'room:1', scopes => ['read'] }, key => 'sk_' . ('A' x 40));
is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'unknown sk_ key: 401 invalid_api_key');
$res = api($ng, 'GET', '/keys', undef, x_api_key => $ADMIN);
is($res->{status}, 200, 'admin key in X-API-Key: 200');

# a key without webhooks:manage
$res = api($ng, 'GET', '/keys', undef, key => $k1->{key});
is_deeply([$res->{status}, error_code($res)], [403, 'insufficient_scope'], 'read key on GET /keys: 403 insufficient_scope');
is($res->{json}{error}{message}, 'this route needs the admin key or an API key with the webhooks:manage scope',
   'insufficient_scope: the message names the scope');
$res = api($ng, 'POST', '/keys', { resource => 'room:1', scopes => ['read'] }, key => $k1->{key});
is_deeply([$res->{status}, error_code($res)], [403, 'insufficient_scope'], 'read key on POST /keys: 403 insufficient_scope');
$res = api($ng, 'DELETE', "/keys/$k1->{id}", undef, key => $k1->{key});
is($res->{status}, 403, 'read key on DELETE /keys/{id}: 403');

# a manage key of room:1 acts for room:1 only
my $m1 = $k2;
$res = api($ng, 'POST', '/keys', { resource => 'room:1', scopes => ['read'], label => 'by manager' }, key => $m1->{key});
is($res->{status}, 201, 'manage key creates a key for its own resource: 201');
my $k4 = $res->{json};
push @secrets, $k4->{key};
$res = api($ng, 'POST', '/keys', { resource => 'room:2', scopes => ['read'] }, key => $m1->{key});
is_deeply([$res->{status}, error_code($res)], [403, 'forbidden_resource'], 'manage key, other resource: 403 forbidden_resource');
$res = api($ng, 'POST', '/keys', { resource => '*', scopes => ['read'] }, key => $m1->{key});
is_deeply([$res->{status}, error_code($res)], [403, 'forbidden_resource'], 'manage key may not mint a wildcard key');

$res = api($ng, 'GET', '/keys', undef, key => $m1->{key});
is($res->{status}, 200, 'manage key lists: 200');
is($res->{json}{total}, 3, 'manage key lists its own resource only (3 keys of room:1)');
ok(!grep({ $_->{resource} ne 'room:1' } @{ $res->{json}{keys} }), 'no key of another resource in its list');
no_secrets($res, 'manage key list');
$res = api($ng, 'GET', '/keys?resource=room:2', undef, key => $m1->{key});
is_deeply([$res->{status}, error_code($res)], [403, 'forbidden_resource'], 'manage key lists another resource: 403');

$res = api($ng, 'GET', "/keys/$k3->{id}", undef, key => $m1->{key});
is_deeply([$res->{status}, error_code($res)], [404, 'not_found'], 'manage key gets a key of another resource: 404');
$res = api($ng, 'DELETE', "/keys/$k3->{id}", undef, key => $m1->{key});
is_deeply([$res->{status}, error_code($res)], [404, 'not_found'], 'manage key deletes a key of another resource: 404');
is(auth_get($ng, '/r', $k3->{key})->{status}, 200, '… and that key still works');
is(api($ng, 'GET', "/keys/$k4->{id}", undef, key => $m1->{key})->{status}, 200, 'manage key gets its own key');

# wildcard manage key acts for any resource
my $star = create_key($ng, $ADMIN, resource => '*', scopes => ['webhooks:manage']);
push @secrets, $star->{key};
$res = api($ng, 'POST', '/keys', { resource => 'room:9', scopes => ['read'] }, key => $star->{key});
is($res->{status}, 201, 'wildcard manage key creates for room:9');
push @secrets, $res->{json}{key};
my $k9 = $res->{json};
$res = api($ng, 'GET', '/keys', undef, key => $star->{key});
is($res->{json}{total}, 6, 'wildcard manage key lists every key');
is(api($ng, 'GET', "/keys/$k3->{id}", undef, key => $star->{key})->{status}, 200, 'wildcard manage key reads room:2');
is(api($ng, 'GET', '/keys?resource=room:2', undef, key => $star->{key})->{json}{total}, 1,
   'wildcard manage key lists room:2');

# /limits is admin only
$res = api($ng, 'PUT', '/limits/room:1', { max_keys => 50 }, key => $star->{key});
is_deeply([$res->{status}, error_code($res)], [403, 'insufficient_scope'], 'PUT /limits with an API key: 403 insufficient_scope');
is($res->{json}{error}{message}, 'this route needs the admin key (webhook_api admin_key=)', 'PUT /limits: the admin key');
$res = api($ng, 'PUT', '/limits/room:1', { max_keys => 50 }, key => $m1->{key});
is($res->{status}, 403, 'PUT /limits with the tenant\'s own manage key: 403');

# --- revoke ---------------------------------------------------------------------------------------

$res = api($ng, 'DELETE', "/keys/$k4->{id}", undef, key => $m1->{key});
is($res->{status}, 204, 'manage key revokes its own key: 204');
is($res->{content} // '', '', '204 has no body');
is(auth_get($ng, '/r', $k4->{key})->{status}, 401, 'the revoked key is refused');
is(api($ng, 'GET', "/keys/$k4->{id}", undef, key => $ADMIN)->{status}, 404, 'GET of a revoked key: 404');
is(api($ng, 'DELETE', "/keys/$k4->{id}", undef, key => $ADMIN)->{status}, 404, 'second DELETE: 404');

$res = api($ng, 'DELETE', "/keys/$k9->{id}", undef, x_api_key => $ADMIN);
is($res->{status}, 204, 'admin revokes (X-API-Key): 204');
is(api($ng, 'GET', '/keys', undef, key => $ADMIN)->{json}{total}, 4, 'total after two revocations');

# A manage key revoking itself: later calls with it are refused.
$res = api($ng, 'DELETE', "/keys/$m1->{id}", undef, key => $m1->{key});
is($res->{status}, 204, 'a manage key revokes itself: 204');
$res = api($ng, 'GET', '/keys', undef, key => $m1->{key});
is_deeply([$res->{status}, error_code($res)], [401, 'invalid_api_key'], 'then it is refused at the API');

# --- plan limits -------------------------------------------------------------------------------------

$res = api($ng, 'PUT', '/limits/team:a', { max_keys => 3 }, key => $ADMIN);
is($res->{status}, 200, 'PUT /limits/team:a: 200');
is_deeply($res->{json}, { tenant => 'team:a', max_keys => 3, max_webhooks => 20, max_pending => 10000 }, 'PUT /limits answer');
my @team;
for my $i (1 .. 3) {
    $res = api($ng, 'POST', '/keys', { resource => 'team:a', scopes => ['read'] }, key => $ADMIN);
    is($res->{status}, 201, "team:a key $i of 3: 201");
    push @team, $res->{json};
    push @secrets, $res->{json}{key};
}
$mark = $ng->log_mark;
$res = api($ng, 'POST', '/keys', { resource => 'team:a', scopes => ['read'] }, key => $ADMIN);
is_deeply([$res->{status}, error_code($res)], [409, 'limit_reached'], 'fourth key over max_keys=3: 409 limit_reached');
like($res->{json}{error}{message}, qr/limit .*\(max_keys; the admin raises it with PUT \/limits\/\{tenant\}\)/,
     '409 message names max_keys and PUT /limits');
like(join("\n", $ng->wait_log($mark, qr/webhook_api/)), qr/\[info\].*webhook_api refused: 409 limit_reached: the plan limit /,
     '409: one line, code and reason (the same format from the routes)');
is(api($ng, 'GET', '/keys?resource=team:a', undef, key => $ADMIN)->{json}{total}, 3, 'the refused key was not stored');
is(api($ng, 'DELETE', "/keys/$team[0]{id}", undef, key => $ADMIN)->{status}, 204, 'revoke one team:a key');
is(api($ng, 'POST', '/keys', { resource => 'team:a', scopes => ['read'] }, key => $ADMIN)->{status}, 201,
   'revoking frees a slot: 201');
is(api($ng, 'PUT', '/limits/team:a', { max_keys => 4 }, key => $ADMIN)->{json}{max_keys}, 4, 'raise to 4');
is(api($ng, 'POST', '/keys', { resource => 'team:a', scopes => ['read'] }, key => $ADMIN)->{status}, 201,
   'after raising the limit: 201');
is(api($ng, 'POST', '/keys', { resource => 'team:a', scopes => ['read'] }, key => $ADMIN)->{status}, 409,
   'and the raised limit holds: 409');
$res = api($ng, 'PUT', '/limits/team:a', { max_webhooks => 7 }, key => $ADMIN);
is_deeply($res->{json}, { tenant => 'team:a', max_keys => 4, max_webhooks => 7, max_pending => 10000 },
          'max_webhooks alone keeps max_keys');

# Racing creations in both workers never exceed the limit.
{
    is(api($ng, 'PUT', '/limits/race:1', { max_keys => 7 }, key => $ADMIN)->{status}, 200, 'PUT /limits/race:1 max_keys=7');
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my @rc = in_children(8, sub ($i) {
        my @st = map { api($ng, 'POST', '/keys', { resource => 'race:1', scopes => ['read'] }, key => $ADMIN)->{status} } 1 .. 5;
        write_file("$dir/$i", join(' ', @st));
    });
    my @st = map { split / /, read_file("$dir/$_") // '' } 0 .. 7;
    is(scalar @st, 40, '8 clients x 5 concurrent creations answered');
    is(scalar(grep { $_ == 201 } @st), 7, 'exactly max_keys (7) of them were created');
    is(scalar(grep { $_ == 409 } @st), 33, 'the other 33: 409');
    is(api($ng, 'GET', '/keys?resource=race:1', undef, key => $ADMIN)->{json}{total}, 7, 'race:1 holds 7 keys');
}

# The default limit is 20 per resource.
my $n = 0;
while ($n < 25) {
    $res = api($ng, 'POST', '/keys', { resource => 'team:default', scopes => ['read'] }, key => $ADMIN);
    last unless $res->{status} == 201;
    push @secrets, $res->{json}{key};
    $n++;
}
is($n, 20, 'default max_keys: 20 keys per resource');
is(error_code($res), 'limit_reached', 'the 21st: limit_reached');

# --- POST /events with no webhook_delivery ----------------------------------------

# A body of any size the API accepts elsewhere (here 10 KiB) gets the route's
# own answer, 404: there is nothing to publish through.
{
    my $res = api($ng, 'POST', '/events', { type => 'room.x', data => { pad => 'x' x 10240 } }, key => $ADMIN);
    is($res->{status}, 404, 'POST /events of 10 KiB without webhook_delivery: 404') or diag($res->{content});
    is(error_code($res), 'not_found', 'POST /events without webhook_delivery: not_found');
}

# --- logs -----------------------------------------------------------------------------------------

$ng->log_is_clean;
$ng->log_lacks($ADMIN, 'admin key not logged');
my @leaked = grep { index($ng->error_log, $_) >= 0 } @secrets;
ok(!@leaked, 'no key string in the error log') or diag("leaked: @leaked");
my $access = WebhookTest::read_file($ng->prefix . '/access.log') // '';
ok(!grep({ index($access, $_) >= 0 } @secrets), 'no key string in the access log');

done_testing;
