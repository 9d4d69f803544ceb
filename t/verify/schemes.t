# webhook_verify: signatures made by the senders' own libraries (npm) and by
# their published recipes verify for every scheme, the published test vectors
# verify, and the upstream receives the body byte for byte.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use Digest::SHA ();
use MIME::Base64 ();

my %S = (
    standard  => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    stripe    => 'whsec_stripe_literal_key_0123456789',
    github    => 'gh-hook-secret-0123',
    slack     => '8f742231b10e8888abcd99yyyzzz85a5',
    shopify   => 'shpss_0123456789abcdef',
    stager    => 'stager-secret-xyz',
    stairoids => 'stairoids-secret-abc',
    b64       => 'b64-secret',
    sha1      => 'sha1-secret',
    sha512    => 'sha512-secret',
);

my $backend = WebhookTest::Backend->start;
my $ng = WebhookTest::Nginx->new(vars => { BACKEND => $backend->port, map { uc($_) => $S{$_} } keys %S }, conf => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        proxy_set_header X-Verify $webhook_verify_status;
        location / { proxy_pass http://127.0.0.1:%%BACKEND%%; }

        location /standard  { webhook_verify standard secret=%%STANDARD%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /github    { webhook_verify github secret=%%GITHUB%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /stripe    { webhook_verify stripe secret=%%STRIPE%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /slack     { webhook_verify slack secret=%%SLACK%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /shopify   { webhook_verify shopify secret=%%SHOPIFY%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /stager    { webhook_verify hmac secret=%%STAGER%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /stairoids {
            webhook_verify hmac secret=%%STAIROIDS%% header=X-Stairoids-Signature prefix=sha256=;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /hmac-base64 { webhook_verify hmac secret=%%B64%% encoding=base64; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /hmac-sha1   { webhook_verify hmac secret=%%SHA1%% alg=sha1; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /hmac-sha512 {
            webhook_verify hmac secret=%%SHA512%% alg=sha512 encoding=base64 header=X-Sig-512 prefix=v1=;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }

        # published test vectors (TEST-VECTORS.md); fixed timestamps, so a wide tolerance
        location /vector/github {
            webhook_verify github "secret=It's a Secret to Everybody";
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /vector/standard {
            webhook_verify standard secret=whsec_plJ3nmyCDGBKInavdOK15jsl tolerance=100000000;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /vector/slack {
            webhook_verify slack secret=8f742231b10e8888abcd99yyyzzz85a5 tolerance=1000000000;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
    }
EOF
$ng->start;

# A body a re-serialising verifier would break: odd spacing, key order, UTF-8,
# escapes, trailing newline.
my $body = qq({"type":"room.on_air" ,  "id":"evt_\x{31}23", "text":"h\xc3\xa9llo \xe2\x9c\x93 \\u00e9\\n","n":[1, 2.50,3e0],"z":null}\n);

# Posts and checks: 200, the backend got the exact bytes and saw $webhook_verify_status=ok.
sub passes($path, $headers, $name, $b = $body) {
    my $res = http_post($ng->url($path), $b, $headers);
    is($res->{status}, 200, "$name: 200") or diag("$res->{status} $res->{content}");
    my $got = $backend->request_for($res);
    ok($got && $got->{body} eq $b, "$name: upstream received the body byte for byte");
    is($got && $got->{headers}{'x-verify'}, 'ok', "$name: \$webhook_verify_status is ok");
}

sub refused($path, $headers, $code, $name, $b = $body) {
    my $n = $backend->count;
    my $res = http_post($ng->url($path), $b, $headers);
    is($res->{status}, 401, "$name: 401");
    my $j = json_decode($res->{content});
    is($j && $j->{error}{code}, $code, "$name: code $code");
    is($backend->count, $n, "$name: nothing reached the upstream");
}

# --- the senders' npm libraries ------------------------------------------------

my $h = sign_with_library('standardwebhooks', $S{standard}, $body, id => 'msg_std_1');
ok(exists $h->{'webhook-signature'}, 'standardwebhooks produced webhook-* headers');
passes('/standard', $h, 'standardwebhooks Webhook#sign');

$h = sign_with_library('svix', $S{standard}, $body, id => 'msg_svix_1');
ok(exists $h->{'svix-signature'}, 'svix produced svix-* headers');
passes('/standard', $h, 'svix Webhook#sign, svix-* headers');
my %unbranded = map { (my $k = $_) =~ s/^svix-/webhook-/; ($k => $h->{$_}) } keys %$h;
passes('/standard', \%unbranded, 'svix Webhook#sign, webhook-* headers');

$h = sign_with_library('stripe', $S{stripe}, $body);
like($h->{'Stripe-Signature'} // '', qr/^t=\d+,v1=[0-9a-f]{64}$/, 'stripe generateTestHeaderString');
passes('/stripe', $h, 'stripe.webhooks.generateTestHeaderString');

$h = sign_with_library('octokit', $S{github}, $body, id => '72d3162e-cc78-11e3-81ab-4c9367dc0958');
passes('/github', $h, '@octokit/webhooks-methods sign');

# The library signature must actually be checked: the same headers with a changed body fail.
refused('/github', $h, 'bad_signature', 'octokit signature, other body', $body . ' ');

# --- published recipes, computed in Perl ---------------------------------------

passes('/slack', sign_slack($S{slack}, $body), 'slack v0');
passes('/shopify', sign_shopify($S{shopify}, $body, 'shop-hook-1'), 'shopify base64');
passes('/stager', sign_hmac($S{stager}, $body), 'hmac: Stager X-Signature hex');
passes('/stairoids', sign_hmac($S{stairoids}, $body, header => 'X-Stairoids-Signature', prefix => 'sha256='),
       'hmac: Stairoids X-Stairoids-Signature sha256=');
passes('/hmac-base64', sign_hmac($S{b64}, $body, encoding => 'base64'), 'hmac encoding=base64');
passes('/hmac-sha1', sign_hmac($S{sha1}, $body, alg => 'sha1'), 'hmac alg=sha1');
passes('/hmac-sha512', sign_hmac($S{sha512}, $body, alg => 'sha512', encoding => 'base64', header => 'X-Sig-512', prefix => 'v1='),
       'hmac alg=sha512 encoding=base64 header= prefix=');
passes('/standard', sign_standard($S{standard}, $body), 'standard (Perl recipe)');
passes('/standard', sign_standard($S{standard}, $body, names => 'svix'), 'standard (Perl recipe, svix-*)');
passes('/stripe', sign_stripe($S{stripe}, $body), 'stripe (Perl recipe)');

# Binary body (not valid UTF-8), for the schemes whose recipe signs raw bytes.
my $bin = random_bytes(4096) . "\0\r\n\xff";
passes('/stager', sign_hmac($S{stager}, $bin), 'hmac: binary body', $bin);
passes('/standard', sign_standard($S{standard}, $bin), 'standard: binary body', $bin);

# Format knobs are checked: a sha256 signature on the sha1 location, a hex one on
# the base64 location, a Stairoids one without its prefix do not pass.
refused('/hmac-sha1', sign_hmac($S{sha1}, $body), 'malformed_signature', 'sha256-length MAC on alg=sha1');
refused('/hmac-base64', sign_hmac($S{b64}, $body), 'malformed_signature', 'hex MAC on encoding=base64');
refused('/stairoids', sign_hmac($S{stairoids}, $body, header => 'X-Stairoids-Signature'), 'malformed_signature',
        'Stairoids MAC without sha256=');
# Stripe keys with the literal whsec_ string: decoding it as Standard Webhooks does fails.
{
    my $ts = time;
    my $key = MIME::Base64::decode_base64($S{stripe} =~ s/^whsec_//r);
    refused('/stripe', { 'Stripe-Signature' => "t=$ts,v1=" . Digest::SHA::hmac_sha256_hex("$ts.$body", $key) },
            'bad_signature', 'stripe signed with the base64-decoded secret');
}

# Every verifying location refuses an unsigned request (verification is really on).
for my $path (qw(/standard /github /stripe /slack /shopify /stager /stairoids /hmac-base64 /hmac-sha1 /hmac-sha512)) {
    my $res = http_post($ng->url($path), $body, {});
    is($res->{status}, 401, "$path without signature: 401");
}

# --- TEST-VECTORS.md --------------------------------------------------------------

{
    my $res = http_post($ng->url('/vector/github'), 'Hello, World!',
        { 'X-Hub-Signature-256' => 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' });
    is($res->{status}, 200, 'GitHub vector verifies');
    is($backend->request_for($res)->{body}, 'Hello, World!', 'GitHub vector body intact');
    is(sign_github("It's a Secret to Everybody", 'Hello, World!')->{'X-Hub-Signature-256'},
       'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17', 'Perl recipe matches the GitHub vector');
    $res = http_post($ng->url('/vector/github'), 'Hello, World?',
        { 'X-Hub-Signature-256' => 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' });
    is($res->{status}, 401, 'GitHub vector with another body: 401');

    my $vbody = '{"event_type":"ping","data":{"success":true}}';
    my %vh = ('webhook-id' => 'msg_loFOjxBNrRLzqYUf', 'webhook-timestamp' => '1731705121',
              'webhook-signature' => 'v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=');
    $res = http_post($ng->url('/vector/standard'), $vbody, \%vh);
    is($res->{status}, 200, 'Standard Webhooks vector verifies');
    is($backend->request_for($res)->{body}, $vbody, 'Standard Webhooks vector body intact');
    my $lib = sign_with_library('standardwebhooks', 'whsec_plJ3nmyCDGBKInavdOK15jsl', $vbody,
                                id => 'msg_loFOjxBNrRLzqYUf', timestamp => 1731705121);
    is($lib->{'webhook-signature'}, $vh{'webhook-signature'}, 'standardwebhooks library reproduces the vector');
    $res = http_post($ng->url('/standard'), $vbody, \%vh);
    is($res->{status}, 401, 'the vector on a 300 s tolerance location: 401 (stale)');
    is(json_decode($res->{content})->{error}{code}, 'timestamp_out_of_tolerance', 'code timestamp_out_of_tolerance');

    my $sbody = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    my %sh = ('X-Slack-Request-Timestamp' => '1531420618',
              'X-Slack-Signature' => 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
              'Content-Type' => 'application/x-www-form-urlencoded');
    $res = http_post($ng->url('/vector/slack'), $sbody, \%sh);
    is($res->{status}, 200, 'Slack vector verifies');
    is($backend->request_for($res)->{body}, $sbody, 'Slack vector body intact');
    $sh{'X-Slack-Request-Timestamp'} = '1531420619';
    $res = http_post($ng->url('/vector/slack'), $sbody, \%sh);
    is($res->{status}, 401, 'Slack vector with another timestamp: 401');
}

$ng->log_is_clean;
$ng->log_lacks($_, "secret $_ not in the logs") for values %S;
done_testing;
