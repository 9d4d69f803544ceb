# Bad input at the /keys and /limits API: each is a clear JSON error
# ({"error":{"code","message"}}, the message naming the field) and leaves the
# state as it was. Then the boundaries that must still be accepted.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest qw(:all);

my $ADMIN = 'admin-key-input-t-1e77a3';

my $ng = api_nginx(admin => $ADMIN, size => '1m');
$ng->start;

# A few keys so that "unchanged" means something.
create_key($ng, $ADMIN, resource => 'room:1', scopes => ['read']) for 1 .. 3;

sub total() { return api($ng, 'GET', '/keys', undef, key => $ADMIN)->{json}{total} }
my $total = total();
is($total, 3, 'three keys to start with');

# Checks status, code, message and that the number of keys did not change.
sub refused($res, $status, $code, $msg_re, $name) {
    is($res->{status}, $status, "$name: $status");
    my $e = ref $res->{json} eq 'HASH' ? $res->{json}{error} : undef;
    ok(ref $e eq 'HASH' && defined $e->{code} && defined $e->{message} && length $e->{message},
       "$name: {\"error\":{\"code\",\"message\"}}") or diag($res->{content});
    if (ref $code) { ok((grep { ($e->{code} // '') eq $_ } @$code), "$name: code one of @$code") or diag($res->{content}) }
    else           { is($e->{code}, $code, "$name: code $code") }
    like($e->{message} // '', $msg_re, "$name: the message names the problem") if $msg_re;
    is(total(), $total, "$name: no key added");
}

sub post_keys($body, %o) { return api($ng, 'POST', '/keys', $body, key => $ADMIN, %o) }

my %ok = (resource => 'room:1', scopes => ['read']);

# --- JSON ---------------------------------------------------------------------------------

refused(post_keys('{"resource":'), 400, 'invalid_json', undef, 'truncated JSON');
refused(post_keys('{resource: "room:1"}'), 400, 'invalid_json', undef, 'not JSON (unquoted name)');
refused(post_keys(''), 400, 'invalid_json', undef, 'empty body');
refused(post_keys('{"resource":"room:1","scopes":["read"]} trailing'), 400, 'invalid_json', undef, 'garbage after the object');
refused(post_keys('[{"resource":"room:1","scopes":["read"]}]'), 400, ['invalid_request', 'invalid_json'], undef,
        'an array, not an object');
refused(post_keys(qq({"resource":"room:\xff\xfe","scopes":["read"]})), 400, 'invalid_json', undef,
        'non-UTF-8 bytes in a string');
refused(post_keys(qq({"resource":"room:1","scopes":["read"],"label":"caf\xe9"})), 400, 'invalid_json', undef,
        'Latin-1 byte in the label');
refused(post_keys(qq({"resource":"room:1","scopes":["read"],"label":"\xc0\xaf"})), 400, 'invalid_json', undef,
        'overlong UTF-8 sequence');
refused(post_keys('{"resource":"room:\u0000x","scopes":["read"]}'), 400, ['invalid_json', 'invalid_request'], undef,
        'NUL escape in a string');

# --- fields -------------------------------------------------------------------------------

refused(post_keys({ scopes => ['read'] }), 400, 'invalid_request', qr/resource/, 'resource missing');
refused(post_keys({ %ok, resource => 5 }), 400, 'invalid_request', qr/resource/, 'resource is a number');
refused(post_keys({ %ok, resource => ['room:1'] }), 400, 'invalid_request', qr/resource/, 'resource is an array');
refused(post_keys({ %ok, resource => '' }), 400, 'invalid_request', qr/resource/, 'resource is empty');
refused(post_keys({ %ok, resource => 'r' x 10_000 }), 400, 'invalid_request', qr/resource/, 'a 10 000-character resource');
refused(post_keys({ %ok, resource => 'r' x 257 }), 400, 'invalid_request', qr/resource/, 'a 257-byte resource');
refused(post_keys({ %ok, resource => "room:1\r\nX-Evil: 1" }), 400, 'invalid_request', qr/resource/, 'CR LF in resource');
refused(post_keys({ resource => 'room:1' }), 400, 'invalid_request', qr/scopes/, 'scopes missing');
refused(post_keys({ %ok, scopes => 'read' }), 400, 'invalid_request', qr/scopes/, 'scopes is a string');
refused(post_keys({ %ok, scopes => [] }), 400, 'invalid_request', qr/scopes/, 'scopes is empty');
refused(post_keys({ %ok, scopes => [1] }), 400, 'invalid_request', qr/scopes/, 'scopes holds a number');
refused(post_keys({ %ok, scopes => { read => 1 } }), 400, 'invalid_request', qr/scopes/, 'scopes is an object');
refused(post_keys({ %ok, scopes => ['admin'] }), 422, 'unknown_scope', qr/admin/, 'unknown scope');
refused(post_keys({ %ok, scopes => ['read', 'READ'] }), 422, 'unknown_scope', qr/READ/, 'scope names are case-sensitive');
refused(post_keys({ %ok, label => 5 }), 400, 'invalid_request', qr/label/, 'label is a number');
refused(post_keys({ %ok, label => "line1\nline2" }), 400, 'invalid_request', qr/label/, 'newline in label');
refused(post_keys({ %ok, label => "bell\x07" }), 400, 'invalid_request', qr/label/, 'control character in label');
refused(post_keys({ %ok, label => "tab\there" }), 400, 'invalid_request', qr/label/, 'tab in label');
refused(post_keys({ %ok, label => "del\x7f" }), 400, 'invalid_request', qr/label/, 'DEL in label');
refused(post_keys({ %ok, label => 'l' x 201 }), 400, 'invalid_request', qr/label/, 'a 201-byte label');
refused(post_keys({ %ok, x => 1 }), 400, 'invalid_request', qr/unknown field "x"/, 'unknown field');
refused(post_keys({ %ok, key => 'sk_chosen_by_me_0000000000000000000000000' }), 400, 'invalid_request',
        qr/unknown field "key"/, 'a caller-chosen key is refused');
refused(post_keys({ %ok, expires_at => '2001-01-01T00:00:00Z' }), 422, 'invalid_expires_at', qr/expires_at/,
        'expires_at in the past (RFC 3339)');
refused(post_keys({ %ok, expires_at => 1000 }), 422, 'invalid_expires_at', qr/expires_at/, 'expires_at in the past (unix)');
refused(post_keys({ %ok, expires_at => time - 5 }), 422, 'invalid_expires_at', qr/expires_at/, 'expires_at 5 s ago');
refused(post_keys({ %ok, expires_at => 'tomorrow' }), 400, 'invalid_request', qr/expires_at/, 'expires_at is not a time');
refused(post_keys({ %ok, expires_at => '2030-13-01T00:00:00Z' }), 400, 'invalid_request', qr/expires_at/, 'month 13');
refused(post_keys({ %ok, expires_at => '2030-02-30T00:00:00Z' }), 400, 'invalid_request', qr/expires_at/, 'February 30');
refused(post_keys({ %ok, expires_at => '2030-01-01T00:00:00+24:00' }), 400, 'invalid_request', qr/expires_at/, 'offset +24:00');
refused(post_keys({ %ok, expires_at => 1_000_000_000_000_000 }), 400, 'invalid_request', qr/expires_at/,
        'expires_at beyond year 9999');
refused(post_keys({ %ok, expires_at => '' }), 400, 'invalid_request', qr/expires_at/, 'expires_at empty string');
refused(post_keys({ %ok, expires_at => '2030-01-01' }), 400, 'invalid_request', qr/expires_at/, 'a date without time');
refused(post_keys({ %ok, expires_at => '2030-01-01T00:00:00' }), 400, 'invalid_request', qr/expires_at/, 'no time zone');
refused(post_keys({ %ok, expires_at => JSON::PP::true }), 400, 'invalid_request', qr/expires_at/, 'expires_at is a boolean');
refused(post_keys('{"resource":"room:1","scopes":["read"],"expires_at":1.5e12}'), 400, 'invalid_request', qr/expires_at/,
        'expires_at is a real number');

# --- transport -----------------------------------------------------------------------------

refused(post_keys(\%ok, content_type => 'text/plain'), 415, 'unsupported_media_type', qr/application\/json/,
        'Content-Type text/plain');
refused(post_keys(\%ok, content_type => 'application/jsonx'), 415, 'unsupported_media_type', undef,
        'Content-Type application/jsonx');
refused(post_keys(\%ok, content_type => 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type', undef,
        'Content-Type form');
{
    my $body = json_encode(\%ok);
    my $res = raw_request($ng->port, raw_http('POST', '/v1/keys', { Authorization => "Bearer $ADMIN" }, $body));
    $res->{json} = json_decode($res->{content});
    refused($res, 415, 'unsupported_media_type', undef, 'no Content-Type');
}
{
    # 64 KiB + 1 of otherwise valid JSON
    my $pad = 65537 - length(json_encode({ %ok, label => '' }));
    my $big = json_encode({ %ok, label => 'b' x $pad });
    is(length $big, 65537, 'the big body is 64 KiB + 1');
    refused(post_keys($big), 413, 'payload_too_large', qr/larger than the 65536 bytes this route accepts/,
            'a 64 KiB + 1 body (Content-Length)');
    my $res = raw_request($ng->port, raw_http('POST', '/v1/keys',
        { Authorization => "Bearer $ADMIN", 'Content-Type' => 'application/json', 'Transfer-Encoding' => 'chunked' },
        chunked_body($big, 8000)));
    $res->{json} = json_decode($res->{content});
    refused($res, 413, 'payload_too_large', qr/larger than the 65536 bytes/, 'a 64 KiB + 1 body (chunked)');
    refused(post_keys('x' x 300_000), 413, 'payload_too_large', undef, 'a 300 KB body');
    # exactly 64 KiB is read, and refused for what it says (the label is too long), not for its size
    my $edge = json_encode({ %ok, label => 'b' x ($pad - 1) });
    is(length $edge, 65536, 'the edge body is exactly 64 KiB');
    refused(post_keys($edge), 400, 'invalid_request', qr/label/, 'a 64 KiB body is read (then the label is too long)');
}
refused(api($ng, 'GET', '/nope', undef, key => $ADMIN), 404, 'not_found', undef, 'unknown route');
refused(api($ng, 'GET', '/keys/a/b', undef, key => $ADMIN), 404, 'not_found', undef, 'too deep under /keys');
refused(api($ng, 'GET', '/', undef, key => $ADMIN), 404, 'not_found', undef, 'the API root');
refused(api($ng, 'GET', '/limits', undef, key => $ADMIN), 404, 'not_found', undef, '/limits without a tenant');
refused(api($ng, 'GET', '/nope', undef), 404, 'not_found', undef, 'unknown route, no key');
for my $case (['PUT', '/keys', 'GET, HEAD, POST'], ['PATCH', '/keys', 'GET, HEAD, POST'], ['POST', '/keys/key_x', 'GET, HEAD, DELETE'],
              ['PUT', '/keys/key_x', 'GET, HEAD, DELETE'], ['GET', '/limits/t', 'PUT'], ['DELETE', '/limits/t', 'PUT']) {
    my ($m, $p, $allow) = @$case;
    my $res = api($ng, $m, $p, $m =~ /^P/ ? \%ok : undef, key => $ADMIN);
    refused($res, 405, 'method_not_allowed', qr/^this route takes \Q$allow\E, not $m$/, "$m $p");
    is($res->{headers}{allow}, $allow, "$m $p: Allow: $allow");
}

# --- /limits ---------------------------------------------------------------------------------

is(api($ng, 'PUT', '/limits/room:5', { max_keys => 1 }, key => $ADMIN)->{status}, 200, 'PUT /limits/room:5 max_keys=1');
is(api($ng, 'POST', '/keys', { resource => 'room:5', scopes => ['read'] }, key => $ADMIN)->{status}, 201, 'one room:5 key');
$total = total();
for my $case ([{ max_keys => -1 }, qr/max_keys/, 'negative max_keys'],
              [{ max_keys => '5' }, qr/max_keys/, 'max_keys as a string'],
              [{ max_keys => 2.5 }, qr/max_keys/, 'max_keys as a real'],
              [{ max_keys => 100_000_000 }, qr/max_keys/, 'max_keys too large'],
              [{ max_webhooks => 'x', max_keys => 5 }, qr/max_webhooks/, 'bad max_webhooks beside a good max_keys'],
              [{}, qr/max_/, 'no field'],
              [{ max_keys => 5, plan => 'gold' }, qr/unknown field "plan"/, 'unknown field']) {
    my ($body, $re, $name) = @$case;
    refused(api($ng, 'PUT', '/limits/room:5', $body, key => $ADMIN), 400, 'invalid_request', $re, "PUT /limits: $name");
}
refused(api($ng, 'PUT', '/limits/room:5', '{"max_keys":', key => $ADMIN), 400, 'invalid_json', undef, 'PUT /limits: bad JSON');
refused(api($ng, 'PUT', '/limits/room:5', { max_keys => 5 }, key => $ADMIN, content_type => 'text/plain'), 415,
        'unsupported_media_type', undef, 'PUT /limits: wrong Content-Type');
refused(api($ng, 'PUT', '/limits/' . ('t' x 300), { max_keys => 5 }, key => $ADMIN), 400, 'invalid_request', qr/tenant/,
        'PUT /limits: a 300-character tenant');
{
    my $res = api($ng, 'POST', '/keys', { resource => 'room:5', scopes => ['read'] }, key => $ADMIN);
    is_deeply([$res->{status}, error_code($res)], [409, 'limit_reached'], 'the refused PUTs left max_keys=1 in force');
}

# --- boundaries that pass -------------------------------------------------------------------------

{
    my $res = post_keys({ resource => 'r' x 256, scopes => ['read'], label => 'l' x 200 });
    is($res->{status}, 201, 'a 256-byte resource and a 200-byte label: 201');
    is(length($res->{json}{resource} // ''), 256, 'the 256-byte resource is kept whole');
    $res = post_keys(\%ok, content_type => 'application/json; charset=utf-8');
    is($res->{status}, 201, 'Content-Type with charset: 201');
    $res = post_keys(\%ok, content_type => 'Application/JSON');
    is($res->{status}, 201, 'Content-Type is case-insensitive: 201');
    $res = post_keys({ resource => "salle:\x{e9}t\x{e9}", scopes => ['read'], label => "caf\x{e9} \x{2615}" });
    is($res->{status}, 201, 'UTF-8 in resource and label: 201');
    is($res->{json}{label}, "caf\x{e9} \x{2615}", 'the UTF-8 label round-trips');
    $res = post_keys({ %ok, expires_at => '2099-12-31T23:59:59+01:00' });
    is($res->{status}, 201, 'expires_at with an offset: 201');
    is($res->{json}{expires_at}, '2099-12-31T22:59:59Z', 'expires_at normalised to UTC');
    $res = post_keys({ %ok, expires_at => undef, label => undef });
    is($res->{status}, 201, 'null expires_at and label: 201');
    is(total(), $total + 6, 'six keys added by the accepted requests');
}

$ng->log_is_clean;
$ng->log_lacks($ADMIN, 'admin key not in the logs');
done_testing;
