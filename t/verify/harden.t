# Hardening of webhook_verify (README.md#webhook_verify), regression tests written against the
# contract:
#  - replay ids are something the sender signed (the decoded MAC bytes, or
#    webhook-id for standard): re-encoding a signature (upper-case hex,
#    base64 with/without padding), reordering or padding a Stripe-Signature,
#    or changing an unsigned delivery-id header never makes a replay new;
#  - an id is remembered only once the upstream answered 2xx: a sender's
#    retry after a 5xx / no answer is accepted;
#  - an internal redirect (try_files, error_page, rewrite) into another
#    location verifies again with that location's webhook_verify;
#  - DAV PUT behind webhook_verify writes the file byte-identical (or
#    nginx -t refuses the combination naming it).
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha256_hex);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep);

my $GH    = 'harden-gh-secret-5b1e';
my $SLACK = 'harden-slack-secret-88';
my $STRP  = 'whsec_harden_stripe_31';
my $SHOP  = 'harden-shopify-secret-09';
my $HM    = 'harden-hmac-secret-4c';
my $AAA   = 'AAA-first-location-secret';
my $BBB   = 'BBB-second-location-secret';

my $backend = WebhookTest::Backend->start;
my $dead = free_port();   # nothing listens there: the upstream gives no answer (502)

my $ng = WebhookTest::Nginx->new(
    vars => { BACKEND => $backend->port, DEAD => $dead, GH => $GH, SLACK => $SLACK, STRP => $STRP, SHOP => $SHOP,
              HM => $HM, AAA => $AAA, BBB => $BBB },
    conf => <<'EOF');
    webhook_zone zone=wz:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        proxy_set_header X-Verify $webhook_verify_status;

        location /gh      { webhook_verify github secret=%%GH%% replay=wz; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /slack   { webhook_verify slack secret=%%SLACK%% replay=wz; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /stripe  { webhook_verify stripe secret=%%STRP%% replay=wz; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /shopify { webhook_verify shopify secret=%%SHOP%% replay=wz; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /hmacid  {
            webhook_verify hmac secret=%%HM%% id_header=X-Delivery-Id replay=wz;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /hmac64  {
            webhook_verify hmac secret=%%HM%% encoding=base64 replay=wz;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /retry      { webhook_verify github secret=%%GH%% replay=wz; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /retry-dead { webhook_verify github secret=%%GH%% replay=wz; proxy_pass http://127.0.0.1:%%DEAD%%; }

        # internal redirects into /b, which verifies with its own secret
        location /a  { root %%PREFIX%%; webhook_verify github secret=%%AAA%% mode=report; try_files /none /b; }
        location /ae { root %%PREFIX%%; webhook_verify github secret=%%AAA%%; try_files /none /b; }
        location /c  { root %%PREFIX%%; webhook_verify github secret=%%AAA%% mode=report; error_page 404 = /b; }
        location /d  { webhook_verify github secret=%%AAA%% mode=report; rewrite ^ /b last; }
        location /b  { webhook_verify github secret=%%BBB%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
    }
EOF
$ng->start;

my $n = 0;
sub body_for($tag) { $n++; return qq({"harden":"$tag","n":$n,"pad":") . ('x' x ($n % 7)) . qq("}\n) }

sub post($path, $body, $h) { return http_post($ng->url($path), $body, $h) }
sub show($res) { return "$res->{status} " . (error_code($res) // '') }

# --- 6. replay ids cannot be re-encoded into a new message ------------------------------------

# First delivery passes, the same again is `replayed`, and the re-encoded
# variant must be refused as `replayed` too (never passed on).
sub replay_case($name, $path, $body, $orig, $variant) {
    my $res = post($path, $body, $orig);
    is($res->{status}, 200, "$name: first delivery 200") or diag(show($res));
    $res = post($path, $body, $orig);
    is(show($res), '401 replayed', "$name: the same message again: 401 replayed");
    my $before = $backend->count;
    $res = post($path, $body, $variant);
    is(show($res), '401 replayed', "$name: the re-encoded message: 401 replayed") or diag("today: " . show($res));
    is($backend->count, $before, "$name: the re-encoded message was not passed on");
}

{
    my $b = body_for('gh-upper');
    my $hex = hmac_sha256_hex($b, $GH);
    replay_case('github upper-case hex', '/gh', $b, { 'X-Hub-Signature-256' => "sha256=$hex" },
                { 'X-Hub-Signature-256' => 'sha256=' . uc $hex });
}
{
    my $b = body_for('gh-delivery');
    replay_case('github new unsigned X-GitHub-Delivery', '/gh', $b, sign_github($GH, $b, 'gh-dlv-0001'),
                sign_github($GH, $b, 'gh-dlv-0002'));
}
{
    my $b = body_for('gh-delivery-added');
    replay_case('github X-GitHub-Delivery added on the re-send', '/gh', $b, sign_github($GH, $b),
                sign_github($GH, $b, 'gh-dlv-added-1'));
}
{
    my $b = body_for('slack-upper');
    my $h = sign_slack($SLACK, $b);
    my $v = { %$h, 'X-Slack-Signature' => 'v0=' . uc substr($h->{'X-Slack-Signature'}, 3) };
    replay_case('slack upper-case hex', '/slack', $b, $h, $v);
}
{
    my $b = body_for('stripe-extra');
    my $ts = time;
    my $hex = hmac_sha256_hex("$ts.$b", $STRP);
    replay_case('stripe extra v0= entry', '/stripe', $b, { 'Stripe-Signature' => "t=$ts,v1=$hex" },
                { 'Stripe-Signature' => "t=$ts,v1=$hex,v0=x" });
}
{
    my $b = body_for('stripe-space');
    my $ts = time;
    my $hex = hmac_sha256_hex("$ts.$b", $STRP);
    replay_case('stripe space after the comma', '/stripe', $b, { 'Stripe-Signature' => "t=$ts,v1=$hex" },
                { 'Stripe-Signature' => "t=$ts, v1=$hex" });
}
{
    my $b = body_for('stripe-upper');
    my $ts = time;
    my $hex = hmac_sha256_hex("$ts.$b", $STRP);
    replay_case('stripe upper-case hex', '/stripe', $b, { 'Stripe-Signature' => "t=$ts,v1=$hex" },
                { 'Stripe-Signature' => "t=$ts,v1=" . uc $hex });
}
{
    my $b = body_for('shopify-unpadded');
    my $b64 = encode_base64(hmac_sha256($b, $SHOP), '');
    (my $unpadded = $b64) =~ s/=+$//;
    isnt($unpadded, $b64, 'shopify: the MAC in base64 has padding (test precondition)');
    replay_case('shopify base64 without padding', '/shopify', $b, { 'X-Shopify-Hmac-Sha256' => $b64 },
                { 'X-Shopify-Hmac-Sha256' => $unpadded });
}
{
    my $b = body_for('shopify-padded');
    my $b64 = encode_base64(hmac_sha256($b, $SHOP), '');
    (my $unpadded = $b64) =~ s/=+$//;
    replay_case('shopify base64 with padding after unpadded', '/shopify', $b, { 'X-Shopify-Hmac-Sha256' => $unpadded },
                { 'X-Shopify-Hmac-Sha256' => $b64 });
}
{
    my $b = body_for('shopify-id');
    replay_case('shopify new unsigned X-Shopify-Webhook-Id', '/shopify', $b, sign_shopify($SHOP, $b, 'shop-1'),
                sign_shopify($SHOP, $b, 'shop-2'));
}
{
    my $b = body_for('hmac-id');
    my $h = sign_hmac($HM, $b);
    replay_case('hmac id_header= changed', '/hmacid', $b, { %$h, 'X-Delivery-Id' => 'hm-a' },
                { %$h, 'X-Delivery-Id' => 'hm-b' });
}
{
    my $b = body_for('hmac-id-upper');
    my $h = sign_hmac($HM, $b);
    replay_case('hmac id_header= dropped, upper-case hex', '/hmacid', $b, { %$h, 'X-Delivery-Id' => 'hm-c' },
                { 'X-Signature' => uc $h->{'X-Signature'} });
}
{
    my $b = body_for('hmac-b64');
    my $b64 = sign_hmac($HM, $b, encoding => 'base64')->{'X-Signature'};
    (my $unpadded = $b64) =~ s/=+$//;
    replay_case('hmac encoding=base64 without padding', '/hmac64', $b, { 'X-Signature' => $b64 },
                { 'X-Signature' => $unpadded });
}

# --- 7. a failed delivery (5xx, no answer) is not remembered -------------------------------------
# A sender retries a moment after it got the failure: each retry below comes
# 0.5 s after the answer (the verdict of a request may settle as it ends).

{
    my $b = body_for('retry-503');
    my $h = sign_github($GH, $b, 'retry-dlv-1');
    $backend->set_status(503);
    my $res = post('/retry', $b, $h);
    is($res->{status}, 503, 'retry: the upstream answers 503 to the verified message');
    $backend->set_status(200);
    sleep 0.5;
    $res = post('/retry', $b, $h);
    is(show($res), '200 ', "retry: the sender's redelivery after a 503 is accepted") or diag('today: ' . show($res));
    my $got = $backend->request_for($res);
    ok($got && $got->{body} eq $b, 'retry: the redelivery reached the upstream');
    $res = post('/retry', $b, $h);
    is(show($res), '401 replayed', 'retry: after the 2xx, a re-send is replayed');
}
{
    my $b = body_for('retry-500-twice');
    my $h = sign_github($GH, $b);
    $backend->set_status(500);
    is(post('/retry', $b, $h)->{status}, 500, 'retry: first attempt 500');
    sleep 0.5;
    my $res = post('/retry', $b, $h);
    is($res->{status}, 500, 'retry: second attempt reaches the upstream again (500), not replayed') or diag(show($res));
    $backend->set_status(200);
    sleep 0.5;
    $res = post('/retry', $b, $h);
    is($res->{status}, 200, 'retry: third attempt 200') or diag(show($res));
    is(show(post('/retry', $b, $h)), '401 replayed', 'retry: then replayed');
}
{
    my $b = body_for('retry-dead');
    my $h = sign_github($GH, $b, 'retry-dead-1');
    my $res = post('/retry-dead', $b, $h);
    is($res->{status}, 502, 'retry: no answer from the upstream: 502');
    sleep 0.5;
    $res = post('/retry', $b, $h);
    is(show($res), '200 ', 'retry: the redelivery after no answer is accepted') or diag('today: ' . show($res));
}
$backend->set_status(200);

# --- 10. an internal redirect verifies again with the target location's configuration -------------

sub redirect_case($from, $how) {
    my $b = body_for("redirect-$from");
    my $before = $backend->count;
    my $res = post($from, $b, sign_github($AAA, $b));
    is(show($res), '401 bad_signature', "$how: signed with $from\'s secret, refused by /b\'s own verify")
        or diag('today: ' . show($res));
    $res = post($from, $b, sign_github('not-any-secret', $b));
    is(show($res), '401 bad_signature', "$how: a bad signature is refused at /b") or diag('today: ' . show($res));
    is($backend->count, $before, "$how: nothing reached the upstream");
    $res = post($from, $b, sign_github($BBB, $b));
    is($res->{status}, 200, "$how: signed with /b\'s secret passes") or diag('today: ' . show($res));
    my $got = $backend->request_for($res);
    if ($from ne '/c') {   # error_page turns the method into GET; the body is checked where it is POSTed
        ok($got && $got->{body} eq $b, "$how: the upstream received the body intact");
        is($got && $got->{headers}{'x-verify'}, 'ok', "$how: \$webhook_verify_status at /b is ok");
    }
}
redirect_case('/a', 'try_files from a report-mode location');
redirect_case('/c', 'error_page from a report-mode location');
redirect_case('/d', 'rewrite from a report-mode location');
{
    my $b = body_for('redirect-enforce');
    my $res = post('/ae', $b, sign_github($AAA, $b));
    is(show($res), '401 bad_signature', "try_files from an enforcing location: its secret does not pass /b")
        or diag('today: ' . show($res));
}

$ng->log_is_clean('verify: no [alert]/[emerg]/[crit]');
$ng->stop;

# --- 15. DAV PUT behind webhook_verify -----------------------------------------------------------

{
    my $dav_conf = <<'EOF';
    webhook_zone zone=wz:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 4m;
        location /dav  { root %%PREFIX%%/www; webhook_verify hmac secret=%%HM%% mode=report; dav_methods PUT; }
        location /davs { root %%PREFIX%%/www; webhook_verify hmac secret=%%HM%%; dav_methods PUT; }
    }
EOF
    my $dav = WebhookTest::Nginx->new(vars => { HM => $HM }, conf => $dav_conf);
    my $www = $dav->prefix . '/www';
    mkdir $www;
    mkdir "$www/$_" for qw(dav davs);
    chmod 0777, $www, "$www/dav", "$www/davs";
    my ($exit, $out) = $dav->test_config;
    if ($exit != 0) {
        like($out, qr/dav/i, 'DAV: nginx -t refuses webhook_verify with dav_methods, naming it');
    } else {
        $dav->start;
        my $small = "report mode body \x00\x01\xff " . ('r' x 100);
        my $res = http_request('PUT', $dav->url('/dav/report.bin'), {}, $small);
        ok($res->{status} == 201 || $res->{status} == 204, 'DAV report mode, unsigned PUT: 201/204')
            or diag("today: $res->{status} $res->{content}");
        is(read_file("$www/dav/report.bin"), $small, 'DAV report mode: the file is byte-identical');
        for my $case (['good', $HM], ['bad', 'not-the-secret']) {
            my $body = "report mode, $case->[0] signature " . random_bytes(500);
            $res = http_request('PUT', $dav->url("/dav/report-$case->[0].bin"), sign_hmac($case->[1], $body), $body);
            ok($res->{status} == 201 || $res->{status} == 204, "DAV report mode, PUT with a $case->[0] signature: 201/204")
                or diag("today: $res->{status}");
            is(read_file("$www/dav/report-$case->[0].bin"), $body, "DAV report mode, $case->[0] signature: byte-identical");
        }

        my $signed = random_bytes(3000);
        $res = http_request('PUT', $dav->url('/davs/signed.bin'), sign_hmac($HM, $signed), $signed);
        ok($res->{status} == 201 || $res->{status} == 204, 'DAV enforce, signed PUT: 201/204')
            or diag("today: $res->{status} $res->{content}");
        is(read_file("$www/davs/signed.bin"), $signed, 'DAV enforce: the file is byte-identical');

        my $big = random_bytes(300_000);   # over client_body_buffer_size: a temp file
        $res = http_request('PUT', $dav->url('/davs/big.bin'), sign_hmac($HM, $big), $big);
        ok($res->{status} == 201 || $res->{status} == 204, 'DAV enforce, signed 300 KB PUT: 201/204')
            or diag("today: $res->{status} $res->{content}");
        my $got = read_file("$www/davs/big.bin");
        ok(defined $got && $got eq $big, 'DAV enforce: the 300 KB file is byte-identical');

        $res = http_request('PUT', $dav->url('/davs/forged.bin'), sign_hmac('wrong', $small), $small);
        is(show($res), '401 bad_signature', 'DAV enforce, bad signature: 401');
        ok(!-e "$www/davs/forged.bin", 'DAV enforce: the forged file was not written');
        $dav->log_is_clean('DAV: no [alert]/[emerg]/[crit]');
        $dav->stop;
    }
}

done_testing;
