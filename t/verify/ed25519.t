# webhook_verify standard with Standard Webhooks' asymmetric signatures
# (v1a,<base64 of an Ed25519 signature of "id.timestamp.body">): signatures
# made by Node's own crypto.sign (OpenSSL) and by two independent pure-JS
# implementations (@noble/ed25519, tweetnacl) verify against whpk_ public keys
# given literally, through a map, several (rotation) and mixed with whsec_
# HMAC secrets; forgeries, other kinds and bodies over what is kept in memory
# are refused; every way a body arrives (chunked, HTTP/2, a temp file, read by
# an earlier location) reaches the upstream byte for byte.
use v5.36;
use Test::More;
use MIME::Base64 qw(encode_base64);
use WebhookTest qw(:all);

my ($SK_A, $PK_A) = ed25519_keypair();
my ($SK_B, $PK_B) = ed25519_keypair();
my ($SK_C, $PK_C) = ed25519_keypair();   # a key no location trusts
my $WHSEC = 'whsec_' . encode_base64('ed25519-test-hmac-key-0123456789', '');

# The documented example (docs/directives.md#ed25519-v1a, examples/reference.conf),
# run as written: its public key is RFC 8032 §7.1 TEST 1's, whose secret key is published.
my $reference = read_file(WebhookTest::npm_dir() . '/../../examples/reference.conf') // die 'examples/reference.conf';
my ($EX_MAP) = $reference =~ /^(\s*map \$http_x_tenant \$tenant_public_key \{.*?^\s*\})/ms or die 'the example map';
my ($EX_LOC) = $reference =~ /^(\s*location = \/hooks\/standard \{.*?^\s*\})/ms or die 'the example location';
s{replay=webhooks}{replay=wz} for $EX_LOC;
my $EX_SK = 'whsk_' . encode_base64(pack('H*', '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'), '');
my $EX_WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

my $backend = WebhookTest::Backend->start;
s{http://app;}{'http://127.0.0.1:' . $backend->port . ';'}e for $EX_LOC;
my $ng = WebhookTest::Nginx->new(
    vars => { BACKEND => $backend->port, PK_A => $PK_A, PK_B => $PK_B, SK_C => $SK_C, WHSEC => $WHSEC,
              EX_MAP => $EX_MAP, EX_LOC => $EX_LOC },
    conf => <<'EOF');
    webhook_zone zone=wz:1m;
    client_body_buffer_size 16k;

%%EX_MAP%%
    map $http_x_tenant $tenant_key {
        a      %%PK_A%%;
        b      %%PK_B%%;
        hmac   %%WHSEC%%;
        short  whpk_AAAA;
        leak   %%SK_C%%;
        default "";
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT2%% http2;
        proxy_set_header X-Verify $webhook_verify_status;

%%EX_LOC%%
        location /ed {
            webhook_verify standard secret=%%PK_A%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /rotate {
            webhook_verify standard secret=%%PK_A%% secret=%%PK_B%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /mixed {
            webhook_verify standard secret=%%WHSEC%% secret=%%PK_A%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /hmac-only {
            webhook_verify standard secret=%%WHSEC%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /tenant {
            webhook_verify standard secret=$tenant_key;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /replay {
            webhook_verify standard secret=%%PK_A%% secret=%%PK_B%% secret=%%WHSEC%% replay=wz;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /small {
            client_max_body_size 2k;
            webhook_verify standard secret=%%PK_A%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /unlimited {
            client_max_body_size 0;
            webhook_verify standard secret=%%PK_A%% secret=%%WHSEC%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /tempfile {
            client_body_buffer_size 1k;
            webhook_verify standard secret=%%PK_A%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        # The body read by a first verifying location, verified again after
        # try_files (it is kept by NGINX, here in a temp file).
        location /first/ {
            client_body_buffer_size 1k;
            webhook_verify standard secret=%%PK_A%%;
            try_files /nonexistent-file /second$uri;
        }
        location /second/ {
            client_body_buffer_size 1k;
            webhook_verify standard secret=%%PK_B%% secret=%%PK_A%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
    }
EOF
$ng->start;

my $body = qq({"type":"invoice.paid" , "data":{"id":"in_\x{31}","note":"h\xc3\xa9llo \\u00e9"},"n":[1, 2.50]}\n);
my $n_id = 0;
sub new_id() { return 'msg_ed_' . $$ . '_' . ++$n_id }

# v1a headers made by one implementation (node, noble, tweetnacl).
sub sign($impl, $sk, $b = $body, %o) {
    return sign_with_library("ed25519-$impl", $sk, $b, id => $o{id} // new_id(), timestamp => $o{timestamp} // time);
}
# The v1 (HMAC) entry for the same id and timestamp.
sub v1_entry($h, $b = $body, $secret = $WHSEC) {
    my $s = sign_standard($secret, $b, id => $h->{'webhook-id'}, timestamp => $h->{'webhook-timestamp'});
    return $s->{'webhook-signature'};
}

sub upstream_got($res, $want, $name) { return $backend->received_verified($res, $want, $name) }

sub passes($path, $headers, $name, $b = $body, %o) {
    my $res = http_post($ng->url($path), $b, { %$headers, %{ $o{extra} // {} } });
    is($res->{status}, 200, "$name: 200") or diag("$res->{status} $res->{content}");
    upstream_got($res, $b, $name);
    return $res;
}

# 401 with the code (and a message containing $says), nothing passed on.
sub refused($path, $headers, $code, $name, %o) {
    my $b = $o{body} // $body;
    my $n = $backend->count;
    my $res = http_post($ng->url($path), $b, { %$headers, %{ $o{extra} // {} } });
    is($res->{status}, 401, "$name: 401") or diag("$res->{status} $res->{content}");
    is(error_code($res), $code, "$name: $code");
    if (defined $o{says}) {
        my $msg = (json_decode($res->{content}) // {})->{error}{message} // '';
        like($msg, qr/\Q$o{says}\E/, "$name: the message says what was wrong");
    }
    is($backend->count, $n, "$name: nothing passed on");
    return $res;
}

# --- three implementations, one key ------------------------------------------------------

for my $impl (qw(node noble tweetnacl)) {
    passes('/ed', sign($impl, $SK_A), "v1a by $impl");
}
{   # the three sign alike (Ed25519 is deterministic): the same header from each
    my %o = (id => 'msg_same', timestamp => 1731705121);
    my @sigs = map { sign($_, $SK_A, $body, %o)->{'webhook-signature'} } qw(node noble tweetnacl);
    is($sigs[1], $sigs[0], 'noble and Node sign the same bytes alike');
    is($sigs[2], $sigs[0], 'tweetnacl and Node sign the same bytes alike');
}
{   # the svix-* names
    my $h = sign('noble', $SK_A);
    passes('/ed', { map { s/^webhook-/svix-/r => $h->{$_} } keys %$h }, 'v1a under svix-* names');
}

# --- the documented example ----------------------------------------------------------------

{
    my $first = sign('noble', $EX_SK);
    passes('/hooks/standard', $first, 'the example: v1a by tenant acme\'s key', $body, extra => { 'X-Tenant' => 'acme' });
    my $h = sign('node', $EX_SK);
    refused('/hooks/standard', $h, 'bad_signature', 'the example: v1a from a tenant without a key',
            extra => { 'X-Tenant' => 'other' });
    passes('/hooks/standard', { %$h, 'webhook-signature' => v1_entry($h, $body, $EX_WHSEC) },
           'the example: v1 by the whsec_ secret', $body, extra => { 'X-Tenant' => 'other' });
    refused('/hooks/standard', $first, 'replayed', 'the example: replay=', extra => { 'X-Tenant' => 'acme' });
    my $big = 'b' x (256 * 1024 + 1);
    my $res = http_post($ng->url('/hooks/standard'), $big, { %{ sign('node', $EX_SK, $big) }, 'X-Tenant' => 'acme' });
    is($res->{status}, 413, 'the example: over its client_max_body_size 256k, NGINX\'s 413');
}

# --- forgeries ----------------------------------------------------------------------------

refused('/ed', sign('node', $SK_C), 'bad_signature', 'v1a by a key not configured');
refused('/ed', sign('tweetnacl', $SK_B), 'bad_signature', 'v1a by another configured key, not this location\'s');
{
    my $h = sign('noble', $SK_A);
    refused('/ed', $h, 'bad_signature', 'tampered body (last byte)', body => substr($body, 0, -1) . 'X');
    refused('/ed', $h, 'bad_signature', 'tampered body (one more byte)', body => "$body ");
    refused('/ed', { %$h, 'webhook-id' => $h->{'webhook-id'} . 'x' }, 'bad_signature', 'tampered webhook-id');
    refused('/ed', { %$h, 'webhook-timestamp' => $h->{'webhook-timestamp'} - 1 }, 'bad_signature',
            'tampered webhook-timestamp');
    my $sig = $h->{'webhook-signature'};
    my $flipped = substr($sig, 0, 10) . (substr($sig, 10, 1) eq 'A' ? 'B' : 'A') . substr($sig, 11);
    refused('/ed', { %$h, 'webhook-signature' => $flipped }, 'bad_signature', 'one base64 character of the signature changed');
    refused('/ed', sign('node', $SK_A, $body, timestamp => time - 3600), 'timestamp_out_of_tolerance',
            'an hour-old v1a');
}
{   # malformed entries: named, never echoed
    my $h = sign('node', $SK_A);
    my $short = 'v1a,' . encode_base64('x' x 32, '');
    my $res = refused('/ed', { %$h, 'webhook-signature' => $short }, 'malformed_signature', 'v1a of 32 bytes',
                      says => 'webhook-signature has a v1a entry that is not the base64 of a 64-byte Ed25519 signature');
    unlike($res->{content}, qr/\Q@{[substr($short, 4, 20)]}\E/, 'v1a of 32 bytes: not echoed');
    refused('/ed', { %$h, 'webhook-signature' => "$short $h->{'webhook-signature'}" }, 'bad_signature',
            'a malformed v1a next to a v1a over other content', body => "$body!",
            says => 'a v1a entry is not the base64 of a 64-byte Ed25519 signature');
    passes('/ed', { %$h, 'webhook-signature' => "$short v2,abc $h->{'webhook-signature'}" },
           'a malformed v1a and an unknown version next to a good v1a');
}

# --- kinds: v1a to an HMAC secret, v1 to a public key --------------------------------------

{
    my $h = sign('node', $SK_A);
    refused('/hmac-only', $h, 'bad_signature', 'v1a with an HMAC-only configuration',
            says => 'webhook-signature has v1a (Ed25519) signatures only, and this receiver checks v1 (HMAC-SHA256) signatures');
    refused('/ed', { %$h, 'webhook-signature' => v1_entry($h) }, 'bad_signature', 'v1 with a public key only',
            says => 'webhook-signature has v1 (HMAC-SHA256) signatures only, and this receiver checks v1a (Ed25519) signatures');
    passes('/hmac-only', { %$h, 'webhook-signature' => v1_entry($h) . " $h->{'webhook-signature'}" },
           'v1 and v1a to an HMAC-only configuration: the v1 matches');
}

# --- rotation: two public keys ----------------------------------------------------------------

passes('/rotate', sign('noble', $SK_A), 'rotation: signed by the first key');
passes('/rotate', sign('tweetnacl', $SK_B), 'rotation: signed by the second key');
{
    my $id = new_id();
    my $ts = time;
    my $a = sign('node', $SK_A, $body, id => $id, timestamp => $ts);
    my $b = sign('node', $SK_B, $body, id => $id, timestamp => $ts);
    my $c = sign('node', $SK_C, $body, id => $id, timestamp => $ts);
    passes('/rotate', { %$a, 'webhook-signature' => "$c->{'webhook-signature'} $b->{'webhook-signature'}" },
           'rotation: an unknown key\'s signature, then the second key\'s');
    passes('/rotate', { %$a, 'webhook-signature' => "$a->{'webhook-signature'} $b->{'webhook-signature'}" },
           'rotation: signed by both keys');
    refused('/rotate', $c, 'bad_signature', 'rotation: neither key');
}

# --- mixed v1 + v1a, mixed secrets ---------------------------------------------------------------

{
    my $h = sign('noble', $SK_A);
    my $v1 = v1_entry($h);
    my $bad_v1 = v1_entry($h, $body, 'whsec_' . encode_base64('another-hmac-key-0123456789abcdef', ''));
    my $bad_v1a = sign('noble', $SK_C, $body, id => $h->{'webhook-id'}, timestamp => $h->{'webhook-timestamp'})
        ->{'webhook-signature'};
    passes('/mixed', { %$h, 'webhook-signature' => "$v1 $h->{'webhook-signature'}" }, 'mixed: v1 and v1a both good');
    passes('/mixed', { %$h, 'webhook-signature' => "$bad_v1 $h->{'webhook-signature'}" }, 'mixed: v1 bad, v1a good');
    passes('/mixed', { %$h, 'webhook-signature' => "$bad_v1a $v1" }, 'mixed: v1a bad, v1 good');
    passes('/mixed', $h, 'mixed secrets: v1a only');
    passes('/mixed', { %$h, 'webhook-signature' => $v1 }, 'mixed secrets: v1 only');
    refused('/mixed', { %$h, 'webhook-signature' => "$bad_v1 $bad_v1a" }, 'bad_signature', 'mixed: both bad');
}

# --- public keys through a map (per tenant) ------------------------------------------------------

{
    passes('/tenant', sign('node', $SK_A), 'map: tenant a, its key', $body, extra => { 'X-Tenant' => 'a' });
    passes('/tenant', sign('tweetnacl', $SK_B), 'map: tenant b, its key', $body, extra => { 'X-Tenant' => 'b' });
    refused('/tenant', sign('node', $SK_A), 'bad_signature', 'map: tenant b, tenant a\'s key', extra => { 'X-Tenant' => 'b' });
    my $h = sign('node', $SK_A);
    passes('/tenant', { %$h, 'webhook-signature' => v1_entry($h) }, 'map: an HMAC tenant, v1', $body,
           extra => { 'X-Tenant' => 'hmac' });
    refused('/tenant', $h, 'bad_signature', 'map: an HMAC tenant, v1a', extra => { 'X-Tenant' => 'hmac' },
            says => 'v1a (Ed25519) signatures only');
    refused('/tenant', $h, 'bad_signature', 'map: a whpk_ that is not 32 bytes', extra => { 'X-Tenant' => 'short' });
    refused('/tenant', $h, 'bad_signature', 'map: no key for the tenant', extra => { 'X-Tenant' => 'nobody' });

    # A variable that evaluates to a secret key (whsk_): refused, logged, the key never written.
    my $mark = $ng->log_mark;
    refused('/tenant', sign('node', $SK_C), 'bad_signature', 'map: a whsk_ secret key', extra => { 'X-Tenant' => 'leak' });
    ok(scalar $ng->wait_log($mark, qr/\[error\].*webhook_verify: a secret= evaluated to an Ed25519 secret key \(whsk_\.\.\.\), which is not used/),
       'map: whsk_ is logged at error');
    unlike($ng->log_since($mark), qr/\Q@{[substr($SK_C, 5, 16)]}\E/, 'map: the whsk_ is not in the log');
}

# --- replay ids ---------------------------------------------------------------------------------

{
    my $h = sign('noble', $SK_A);
    passes('/replay', $h, 'replay: first delivery');
    refused('/replay', $h, 'replayed', 'replay: the same message again');
    my $again = sign('tweetnacl', $SK_A, $body, id => $h->{'webhook-id'});
    refused('/replay', $again, 'replayed', 'replay: the same id signed again by the same key (by another implementation)');
    # ids are scoped by the key that verified them (as HMAC secrets scope theirs)
    my $other = sign('node', $SK_B, $body, id => $h->{'webhook-id'});
    passes('/replay', $other, 'replay: the same id from the other key is another sender\'s');
    refused('/replay', $other, 'replayed', 'replay: and that one again');
    my $hmac = { %$h, 'webhook-signature' => v1_entry($h) };
    passes('/replay', $hmac, 'replay: the same id verified by the HMAC secret is another sender\'s');
    # a 5xx leaves the id free for the sender's retry
    my $r5 = sign('node', $SK_A);
    my $res = http_post($ng->url('/replay'), $body, { %$r5, 'X-Backend-Status' => 503 });
    is($res->{status}, 503, 'replay: the application failed (503)');
    passes('/replay', $r5, 'replay: the sender\'s retry after a 503');
}

# --- bodies --------------------------------------------------------------------------------------

{   # chunked, in pieces
    my $h = sign('noble', $SK_A);
    my $chunked = chunked_body([substr($body, 0, 1), substr($body, 1, 30), substr($body, 31)]);
    my $head = raw_http('POST', '/ed', { %$h, 'Transfer-Encoding' => 'chunked' }, undef);
    my $res = raw_request($ng->port, [$head, substr($chunked, 0, 20), substr($chunked, 20)], pause => 0.2);
    is($res->{status}, 200, 'chunked: 200');
    upstream_got($res, $body, 'chunked');
    $res = raw_request($ng->port, raw_http('POST', '/ed', { %$h, 'Transfer-Encoding' => 'chunked' },
                                           chunked_body("$body!", 10)));
    is($res->{status}, 401, 'chunked, one more byte: 401');
    is(error_code($res), 'bad_signature', 'chunked, one more byte: bad_signature');
}
{   # an empty body
    my $h = sign('node', $SK_A, '');
    passes('/ed', $h, 'empty body', '');
    my $res = raw_request($ng->port, raw_http('POST', '/ed', { %$h, 'Transfer-Encoding' => 'chunked' }, "0\r\n\r\n"));
    is($res->{status}, 200, 'empty chunked body: 200');
}
{   # Expect: 100-continue
    my $res = expect_continue_request($ng->port, 'POST', '/ed', sign('tweetnacl', $SK_A), $body);
    ok($res->{got_continue}, 'Expect: 100-continue: 100 Continue before the body');
    is($res->{status}, 200, 'Expect: 100-continue: 200');
    upstream_got($res, $body, 'Expect: 100-continue');
}
{   # bigger than client_body_buffer_size: NGINX writes it to a temp file, the kept copy is in memory
    my $big = random_bytes(300 * 1024 + 7);
    my $h = sign('node', $SK_A, $big);
    my $mark = $ng->log_mark;
    passes('/tempfile', $h, '300 KiB binary body (temp file)', $big);
    ok(scalar $ng->wait_log($mark, qr/buffered to a temporary file/), '300 KiB body: NGINX buffered it to a temporary file');
    my $tampered = $big;
    substr($tampered, 150 * 1024, 1) = chr(ord(substr($tampered, 150 * 1024, 1)) ^ 1);
    refused('/tempfile', $h, 'bad_signature', '300 KiB body, one bit flipped in the middle', body => $tampered);

    my $head = raw_http('POST', '/tempfile', { %$h, 'Transfer-Encoding' => 'chunked' }, undef);
    my $chunked = chunked_body($big, 7000);
    my $half = int(length($chunked) / 2);
    my $res = raw_request($ng->port, [$head, substr($chunked, 0, $half), substr($chunked, $half)], pause => 0.2);
    is($res->{status}, 200, '300 KiB chunked body (temp file): 200');
    upstream_got($res, $big, '300 KiB chunked body');
}
{   # read by a first verifying location, then verified again after try_files
    my $big = random_bytes(64 * 1024 + 1);
    my $h = sign('noble', $SK_A, $big);
    passes('/first/x', $h, 'try_files into another verifying location (body kept by NGINX)', $big);
    refused('/first/x', sign('noble', $SK_C, $big), 'bad_signature', 'try_files: a key neither location has', body => $big);
}

# --- over what is kept in memory ---------------------------------------------------------------

{   # client_max_body_size bounds it: NGINX's own 413 past it
    my $ok = 'k' x 2048;
    passes('/small', sign('node', $SK_A, $ok), 'client_max_body_size 2k: a 2 KiB body', $ok);
    my $over = 'k' x 2049;
    my $n = $backend->count;
    my $res = http_post($ng->url('/small'), $over, sign('node', $SK_A, $over));
    is($res->{status}, 413, 'client_max_body_size 2k: 2 KiB + 1 is NGINX\'s 413');
    $res = raw_request($ng->port, raw_http('POST', '/small', { %{ sign('node', $SK_A, $over) }, 'Transfer-Encoding' => 'chunked' },
                                           chunked_body($over, 500)));
    is($res->{status}, 413, 'client_max_body_size 2k: chunked 2 KiB + 1 is NGINX\'s 413');
    is($backend->count, $n, '413: nothing passed on');
}
{   # client_max_body_size 0 (unlimited): 1 MiB is kept at most
    my $MiB = 1024 * 1024;
    my $at = random_bytes($MiB);
    passes('/unlimited', sign('node', $SK_A, $at), 'client_max_body_size 0: a body of exactly 1 MiB', $at);

    my $over = random_bytes($MiB + 1);
    my $h = sign('node', $SK_A, $over);
    my $mark = $ng->log_mark;
    refused('/unlimited', $h, 'bad_signature', 'client_max_body_size 0: a Content-Length of 1 MiB + 1', body => $over,
            says => 'the body is larger than the 1048576 bytes this receiver checks a v1a (Ed25519) signature over');
    ok(scalar $ng->wait_log($mark, qr/\[info\].*bad_signature.*client_max_body_size is 0 \(unlimited\): set client_max_body_size in this location/),
       'over 1 MiB: the log says what to change');

    my $res = raw_request($ng->port, raw_http('POST', '/unlimited', { %$h, 'Transfer-Encoding' => 'chunked' },
                                              chunked_body($over, 60000)));
    is($res->{status}, 401, 'client_max_body_size 0: chunked 1 MiB + 1: 401');
    like((json_decode($res->{content}) // {})->{error}{message} // '', qr/larger than the 1048576 bytes/,
         'chunked over 1 MiB: the message says why');

    # with a v1 signature too, the HMAC still decides (it streams, unbounded)
    passes('/unlimited', { %$h, 'webhook-signature' => v1_entry($h, $over) . " $h->{'webhook-signature'}" },
           'over 1 MiB with a good v1 too: accepted by the HMAC', $over);
    $res = raw_request($ng->port, raw_http('POST', '/unlimited',
        { %$h, 'webhook-signature' => v1_entry($h, $over) . " $h->{'webhook-signature'}", 'Transfer-Encoding' => 'chunked' },
        chunked_body($over, 60000)));
    is($res->{status}, 200, 'chunked over 1 MiB with a good v1 too: 200');
    upstream_got($res, $over, 'chunked over 1 MiB with a good v1 too');
}

# --- HTTP/2 ----------------------------------------------------------------------------------------

{
    my $res = curl_request('POST', $ng->url('/ed', 'PORT2'), sign('noble', $SK_A), $body, http2 => 1);
    is($res->{http_version}, '2', 'HTTP/2: curl spoke HTTP/2') or diag($res->{output});
    is($res->{status}, 200, 'HTTP/2 v1a: 200');
    upstream_got($res, $body, 'HTTP/2');
    my $big = random_bytes(200 * 1024 + 3);
    $res = curl_request('POST', $ng->url('/tempfile', 'PORT2'), sign('tweetnacl', $SK_A, $big), $big, http2 => 1);
    is($res->{status}, 200, 'HTTP/2 200 KiB body (temp file): 200');
    upstream_got($res, $big, 'HTTP/2 200 KiB body');
    my $n = $backend->count;
    $res = curl_request('POST', $ng->url('/ed', 'PORT2'), sign('node', $SK_C), $body, http2 => 1);
    is($res->{status}, 401, 'HTTP/2 v1a by another key: 401');
    is(error_code($res), 'bad_signature', 'HTTP/2 v1a by another key: bad_signature');
    is($backend->count, $n, 'HTTP/2 refusal: nothing passed on');
}

$ng->log_is_clean;
$ng->log_lacks($_, 'no secret key or HMAC secret in the logs') for $SK_A, $SK_B, $SK_C, $WHSEC;
done_testing;
