# webhook_verify: refusals (each code, one info log line each, nothing passed
# on), timestamps, replay, rotation, per-tenant secrets, fail-closed empty
# secrets, mode=report, $webhook_verify_status, webhook_verify off.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use Digest::SHA ();
use MIME::Base64 ();

my $GH      = 'gh-secret-failures-7f3a';
my $OLD     = 'rotation-old-secret-11';
my $NEW     = 'rotation-new-secret-22';
my $ACME    = 'tenant-acme-secret-33';
my $GLOBEX  = 'tenant-globex-secret-44';
my $STD     = 'whsec_' . MIME::Base64::encode_base64('standard-failures-key-0123456789', '');
my $STRIPE  = 'whsec_stripe_failures_55';
my $SLACK   = 'slack-failures-secret-66';
my $SHOPIFY = 'shopify-failures-secret-77';

my $backend = WebhookTest::Backend->start;
my $ng = WebhookTest::Nginx->new(
    vars => { BACKEND => $backend->port, GH => $GH, OLD => $OLD, NEW => $NEW, ACME => $ACME, GLOBEX => $GLOBEX,
              STD => $STD, STRIPE => $STRIPE, SLACK => $SLACK, SHOPIFY => $SHOPIFY },
    conf => <<'EOF');
    webhook_zone zone=wz:1m;

    map $http_x_tenant $tenant_secret {
        default "";
        acme    %%ACME%%;
        globex  %%GLOBEX%%;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        proxy_set_header X-Verify $webhook_verify_status;

        location /plain     { proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /github    { webhook_verify github secret=%%GH%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /standard  { webhook_verify standard secret=%%STD%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /stripe    { webhook_verify stripe secret=%%STRIPE%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /slack     { webhook_verify slack secret=%%SLACK%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /shopify   { webhook_verify shopify secret=%%SHOPIFY%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /hmac      { webhook_verify hmac secret=%%GH%%; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /custom    {
            webhook_verify hmac secret=%%GH%% header=X-Stairoids-Signature prefix=sha256=;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /tight     { webhook_verify standard secret=%%STD%% tolerance=10s; proxy_pass http://127.0.0.1:%%BACKEND%%; }

        location /replay/standard {
            webhook_verify standard secret=%%STD%% replay=wz;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /replay/github {
            webhook_verify github secret=%%GH%% replay=on;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /replay/stripe {
            webhook_verify stripe secret=%%STRIPE%% replay=wz;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /replay/hmac {
            webhook_verify hmac secret=%%GH%% id_header=X-Delivery-Id replay=wz;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }

        location /rotation {
            webhook_verify github secret=%%OLD%% secret=%%NEW%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /tenant {
            webhook_verify github secret=$tenant_secret;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /report {
            webhook_verify github secret=%%GH%% mode=report;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
        }
        location /nested {
            webhook_verify github secret=%%GH%%;
            proxy_pass http://127.0.0.1:%%BACKEND%%;
            location /nested/open {
                webhook_verify off;
                proxy_pass http://127.0.0.1:%%BACKEND%%;
            }
        }
    }

    server {
        listen 127.0.0.1:%%PORT2%%;
        proxy_set_header X-Verify $webhook_verify_status;
        webhook_verify github secret=%%GH%%;
        location / { proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /public { webhook_verify off; proxy_pass http://127.0.0.1:%%BACKEND%%; }
    }
EOF
$ng->start;

my $body = qq({"event":"order.paid","id":"ord_991","amount":4200}\n);
my @signatures_sent;

sub passes($path, $headers, $name, $b = $body, $port = 'PORT') {
    push @signatures_sent, values %$headers;
    my $res = http_post($ng->url($path, $port), $b, $headers);
    is($res->{status}, 200, "$name: 200") or diag("$res->{status} $res->{content}");
    my $got = $backend->request_for($res);
    ok($got && $got->{body} eq $b, "$name: upstream received the body");
    return $got;
}

# 401 with the code in JSON, nothing at the upstream, exactly one info line with the code.
sub refused($path, $headers, $code, $name, $b = $body, $port = 'PORT') {
    push @signatures_sent, values %$headers;
    my $n = $backend->count;
    my $mark = $ng->log_mark;
    my $res = http_post($ng->url($path, $port), $b, $headers);
    is($res->{status}, 401, "$name: 401") or diag("$res->{status} $res->{content}");
    like($res->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
    my $j = json_decode($res->{content});
    is($j && $j->{error}{code}, $code, "$name: code $code");
    ok($j && length($j->{error}{message} // ''), "$name: a message");
    is($backend->count, $n, "$name: not passed on");
    like($res->{content}, qr/\}\n\z/, "$name: the body ends with a newline");
    my @lines = grep { /webhook_verify/ } split /\n/, $ng->log_since($mark);
    is(scalar @lines, 1, "$name: one log line") or diag(join "\n", @lines);
    like($lines[0] // '', qr/\[info\].*webhook_verify refused: 401 \Q$code\E: /, "$name: the line is [info] and names $code");
    return $res;
}

# --- bad signatures ------------------------------------------------------------

refused('/github', sign_github('not-the-secret', $body), 'bad_signature', 'github wrong secret');
my $first = 'X' . substr($body, 1);
my $last  = substr($body, 0, -1) . 'X';
refused('/github', sign_github($GH, $body), 'bad_signature', 'github tampered first byte', $first);
refused('/github', sign_github($GH, $body), 'bad_signature', 'github tampered last byte', $last);
refused('/github', sign_github($GH, $body), 'bad_signature', 'github truncated body', substr($body, 0, -1));
refused('/github', sign_github($GH, $body), 'bad_signature', 'github extended body', "$body ");
refused('/standard', sign_standard($STD, $body), 'bad_signature', 'standard tampered last byte', $last);
refused('/standard', sign_standard('whsec_' . MIME::Base64::encode_base64('other-key', ''), $body), 'bad_signature',
        'standard wrong secret');
{
    my $h = sign_standard($STD, $body);
    $h->{'webhook-id'} .= 'x';
    refused('/standard', $h, 'bad_signature', 'standard with another webhook-id (id is signed)');
}
refused('/stripe', sign_stripe('whsec_wrong', $body), 'bad_signature', 'stripe wrong secret');
refused('/stripe', sign_stripe($STRIPE, $body), 'bad_signature', 'stripe tampered first byte', $first);
refused('/slack', sign_slack('wrong', $body), 'bad_signature', 'slack wrong secret');
refused('/shopify', sign_shopify($SHOPIFY, $body), 'bad_signature', 'shopify tampered last byte', $last);
refused('/hmac', sign_hmac($GH, $body), 'bad_signature', 'hmac tampered first byte', $first);
passes('/github', sign_github($GH, $body), 'github control: right secret, same body');

# --- missing and malformed --------------------------------------------------------

refused('/github', {}, 'missing_signature', 'github no header');
refused('/github', { 'X-Hub-Signature-256' => '' }, 'missing_signature', 'github empty header');
refused('/github', { 'X-Hub-Signature' => 'sha1=' . Digest::SHA::hmac_sha1_hex($body, $GH) }, 'missing_signature',
        'github: only the legacy sha1 header');
refused('/standard', {}, 'missing_signature', 'standard no headers');
refused('/stripe', {}, 'missing_signature', 'stripe no header');
refused('/slack', {}, 'missing_signature', 'slack no header');
refused('/shopify', {}, 'missing_signature', 'shopify no header');
refused('/hmac', {}, 'missing_signature', 'hmac no header');

refused('/github', { 'X-Hub-Signature-256' => 'sha1=' . Digest::SHA::hmac_sha1_hex($body, $GH) }, 'malformed_signature',
        'github sha1= prefix');
refused('/github', { 'X-Hub-Signature-256' => 'sha256=zz' . ('0' x 62) }, 'malformed_signature', 'github non-hex');
refused('/github', { 'X-Hub-Signature-256' => 'sha256=abcd' }, 'malformed_signature', 'github short MAC');
refused('/stripe', { 'Stripe-Signature' => 'garbage' }, 'malformed_signature', 'stripe garbage');
refused('/stripe', { 'Stripe-Signature' => 'v1=' . ('ab' x 32) }, 'malformed_signature', 'stripe without t=');
{
    my $h = sign_standard($STD, $body);
    delete $h->{'webhook-id'};
    refused('/standard', $h, 'malformed_signature', 'standard without webhook-id');
    $h = sign_standard($STD, $body);
    delete $h->{'webhook-timestamp'};
    refused('/standard', $h, 'malformed_signature', 'standard without webhook-timestamp');
    $h = sign_standard($STD, $body);
    $h->{'webhook-timestamp'} = 'yesterday';
    refused('/standard', $h, 'malformed_signature', 'standard non-numeric timestamp');
    $h = sign_standard($STD, $body);
    $h->{'webhook-signature'} =~ s/^v1,/v2,/;
    refused('/standard', $h, 'malformed_signature', 'standard v2 only');
}
{
    my $h = sign_slack($SLACK, $body);
    delete $h->{'X-Slack-Request-Timestamp'};
    refused('/slack', $h, 'malformed_signature', 'slack without timestamp header');
    $h = sign_slack($SLACK, $body);
    $h->{'X-Slack-Signature'} =~ s/^v0=//;
    refused('/slack', $h, 'malformed_signature', 'slack without v0=');
}
refused('/shopify', { 'X-Shopify-Hmac-Sha256' => '!!not base64!!' }, 'malformed_signature', 'shopify not base64');

# --- what the sender is told -------------------------------------------------------------
# The message names the header that is missing or wrong (never its value);
# the log line says the same, with the scheme.

sub told($path, $headers, $code, $message, $name) {
    my $mark = $ng->log_mark;
    my $res = refused($path, $headers, $code, $name);
    my $j = json_decode($res->{content});
    is($j && $j->{error}{message}, $message, "$name: the message");
    my ($line) = grep { /webhook_verify/ } split /\n/, $ng->log_since($mark);
    like($line // '', qr/webhook_verify refused: 401 \Q$code: $message\E/, "$name: the log line says the same");
    for my $v (values %$headers) {
        next if length $v < 12 || $v =~ /^\d+$/;
        ok(index($res->{content}, $v) < 0 && index($line // '', $v) < 0, "$name: no header value is echoed");
    }
}
{
    my $h = sign_standard($STD, $body);
    delete $h->{'webhook-id'};
    told('/standard', $h, 'malformed_signature', 'missing webhook-id header', 'standard: no webhook-id');
    $h = sign_standard($STD, $body);
    delete $h->{'webhook-timestamp'};
    told('/standard', $h, 'malformed_signature', 'missing webhook-timestamp header', 'standard: no webhook-timestamp');
    $h = sign_standard($STD, $body);
    my %svix = map { (s/^webhook-/svix-/r) => $h->{$_} } keys %$h;
    delete $svix{'svix-id'};
    told('/standard', \%svix, 'malformed_signature', 'missing svix-id header', 'svix: no svix-id');
    told('/standard', {}, 'missing_signature', 'missing webhook-signature or svix-signature header', 'standard: nothing');
    $h = sign_standard($STD, $body);
    $h->{'webhook-timestamp'} = 'yesterday';
    told('/standard', $h, 'malformed_signature', 'webhook-timestamp header must be Unix seconds', 'standard: a word for a time');
    told('/standard', sign_standard($STD, $body, timestamp => time - 3600), 'timestamp_out_of_tolerance',
         'webhook-timestamp header is more than 300 seconds from the server\'s clock', 'standard: an hour old');
    told('/standard', sign_standard('whsec_' . MIME::Base64::encode_base64('other-key', ''), $body), 'bad_signature',
         'no signature in webhook-signature matches webhook-id, webhook-timestamp and the body (signed with another '
         . 'secret, or the body was changed)', 'standard: another secret');
}
told('/github', {}, 'missing_signature', 'missing X-Hub-Signature-256 header', 'github: nothing');
told('/github', { 'X-Hub-Signature-256' => 'sha1=' . Digest::SHA::hmac_sha1_hex($body, $GH) }, 'malformed_signature',
     'X-Hub-Signature-256 must start with sha256=', 'github: sha1=');
told('/github', sign_github('not-the-secret', $body), 'bad_signature',
     'X-Hub-Signature-256 does not match the body (signed with another secret, or the body was changed)',
     'github: another secret');
told('/stripe', { 'Stripe-Signature' => 'v1=' . ('ab' x 32) }, 'malformed_signature', 'Stripe-Signature has no t= timestamp',
     'stripe: no t=');
told('/stripe', { 'Stripe-Signature' => 't=' . time . ',v0=' . ('ab' x 32) }, 'malformed_signature',
     'Stripe-Signature has no v1= signature of 64 hex digits', 'stripe: no v1=');
{
    my $h = sign_slack($SLACK, $body);
    delete $h->{'X-Slack-Request-Timestamp'};
    told('/slack', $h, 'malformed_signature', 'missing X-Slack-Request-Timestamp header', 'slack: no timestamp');
}
told('/shopify', { 'X-Shopify-Hmac-Sha256' => '!!not base64!!' }, 'malformed_signature',
     'X-Shopify-Hmac-Sha256 must be the base64 of a 32-byte HMAC', 'shopify: not base64');
told('/custom', {}, 'missing_signature', 'missing X-Stairoids-Signature header', 'hmac header=: nothing');
told('/custom', { 'X-Stairoids-Signature' => Digest::SHA::hmac_sha256_hex($body, $GH) }, 'malformed_signature',
     'X-Stairoids-Signature must start with "sha256="', 'hmac header= prefix=: no prefix');

# Several signatures in one header: any one matching passes (Standard Webhooks
# space-separated list, Stripe several v1=).
{
    my $h = sign_standard($STD, $body);
    $h->{'webhook-signature'} = 'v1,' . MIME::Base64::encode_base64('x' x 32, '') . ' ' . $h->{'webhook-signature'};
    passes('/standard', $h, 'standard: second signature of the list matches');
    my $ts = time;
    $h = { 'Stripe-Signature' => "t=$ts,v1=" . ('00' x 32) . ',v1=' . Digest::SHA::hmac_sha256_hex("$ts.$body", $STRIPE) };
    passes('/stripe', $h, 'stripe: second v1= matches');
}

# --- timestamps --------------------------------------------------------------------

my $now = time;
for my $case ([-200, 200, 'recent past'], [200, 200, 'near future'], [-400, 401, 'stale (400 s)'],
              [400, 401, 'future (400 s)'], [-86400, 401, 'a day old']) {
    my ($delta, $want, $what) = @$case;
    my $ts = $now + $delta;
    for my $s (['/standard', sign_standard($STD, $body, timestamp => $ts)],
               ['/stripe', sign_stripe($STRIPE, $body, $ts)],
               ['/slack', sign_slack($SLACK, $body, $ts)]) {
        my ($path, $h) = @$s;
        if ($want == 200) { passes($path, $h, "$path $what") }
        else { refused($path, $h, 'timestamp_out_of_tolerance', "$path $what") }
    }
}
refused('/tight', sign_standard($STD, $body, timestamp => $now - 60), 'timestamp_out_of_tolerance',
        'tolerance=10s: 60 s old');
passes('/tight', sign_standard($STD, $body, timestamp => time), 'tolerance=10s: now');
# A stale timestamp is refused even when the signature over it is right, and a
# fresh timestamp with a MAC computed over another one is a bad signature.
{
    my $h = sign_stripe($STRIPE, $body, $now - 30);
    $h->{'Stripe-Signature'} =~ s/^t=\d+/'t=' . $now/e;
    refused('/stripe', $h, 'bad_signature', 'stripe: t= changed after signing');
}

# --- replay --------------------------------------------------------------------------

{
    my $h = sign_standard($STD, $body, id => 'msg_replay_std_1');
    my $bad = { %$h, 'webhook-signature' => 'v1,' . MIME::Base64::encode_base64('y' x 32, '') };
    refused('/replay/standard', $bad, 'bad_signature', 'replay: a forged message with the id first');
    passes('/replay/standard', $h, 'replay: first genuine delivery passes (forgeries are not remembered)');
    # New connections each time: with two workers, the zone is what remembers.
    refused('/replay/standard', $h, 'replayed', "replay: same message again ($_)") for 1 .. 4;
    passes('/replay/standard', sign_standard($STD, $body, id => 'msg_replay_std_2'), 'replay: another id passes');
    # Same message on a location without replay= is not refused.
    passes('/standard', $h, 'replay: the location without replay= accepts the message again');

    my $g = sign_github($GH, $body, 'delivery-0001');
    passes('/replay/github', $g, 'replay=on github: first delivery');
    refused('/replay/github', $g, 'replayed', 'replay=on github: redelivery with the same X-GitHub-Delivery');
    passes('/replay/github', sign_github($GH, "$body\n", 'delivery-0002'), 'replay=on github: next delivery',
           "$body\n");

    my $st = sign_stripe($STRIPE, $body);
    passes('/replay/stripe', $st, 'replay stripe: first');
    refused('/replay/stripe', $st, 'replayed', 'replay stripe: same Stripe-Signature again');

    my $hm = { %{ sign_hmac($GH, $body) }, 'X-Delivery-Id' => 'hm-1' };
    passes('/replay/hmac', $hm, 'replay hmac id_header: first');
    refused('/replay/hmac', $hm, 'replayed', 'replay hmac id_header: again');
    # The id header is not signed: a new one does not make the message new (README.md#webhook_verify).
    refused('/replay/hmac', { %$hm, 'X-Delivery-Id' => 'hm-2' }, 'replayed', 'replay hmac id_header: another unsigned id');
    refused('/replay/github', { %$g, 'X-GitHub-Delivery' => 'delivery-9999' }, 'replayed',
            'replay github: a new unsigned X-GitHub-Delivery');
}

# --- rotation, per-tenant secrets, fail closed -------------------------------------------

passes('/rotation', sign_github($OLD, $body), 'rotation: old secret');
passes('/rotation', sign_github($NEW, $body), 'rotation: new secret');
refused('/rotation', sign_github('rotation-unknown', $body), 'bad_signature', 'rotation: neither secret');

passes('/tenant', { %{ sign_github($ACME, $body) }, 'X-Tenant' => 'acme' }, 'tenant acme with its secret');
passes('/tenant', { %{ sign_github($GLOBEX, $body) }, 'X-Tenant' => 'globex' }, 'tenant globex with its secret');
refused('/tenant', { %{ sign_github($GLOBEX, $body) }, 'X-Tenant' => 'acme' }, 'bad_signature',
        "tenant acme with globex's secret");
refused('/tenant', { %{ sign_github('', $body) }, 'X-Tenant' => 'initech' }, 'bad_signature',
        'unknown tenant (empty secret), signed with the empty key: fails closed');
refused('/tenant', sign_github('', $body), 'bad_signature', 'no tenant header (empty secret): fails closed');

# --- mode=report and $webhook_verify_status ------------------------------------------

{
    my $got = passes('/report', sign_github('wrong', $body), 'report: bad signature passes on');
    is($got && $got->{headers}{'x-verify'}, 'bad_signature', 'report: $webhook_verify_status = bad_signature');
    my $mark = $ng->log_mark;
    $got = passes('/report', {}, 'report: missing signature passes on');
    is($got && $got->{headers}{'x-verify'}, 'missing_signature', 'report: $webhook_verify_status = missing_signature');
    my @lines = grep { /webhook_verify/ } split /\n/, $ng->log_since($mark);
    is(scalar @lines, 1, 'report: the refusal is still logged once');
    like($lines[0] // '', qr/\[info\].*webhook_verify report: would refuse 401 missing_signature: .*\(github\), client:/,
         'report: log line names the code and says the request was only reported');
    unlike($lines[0] // '', qr/refused/, 'report: the line does not say "refused"');
    $got = passes('/report', sign_github($GH, $body), 'report: good signature');
    is($got && $got->{headers}{'x-verify'}, 'ok', 'report: $webhook_verify_status = ok');
    $got = passes('/report', sign_github($GH, $body), 'report: tampered body passes on', $last);
    is($got && $got->{headers}{'x-verify'}, 'bad_signature', 'report: tampered body status bad_signature');
    $got = passes('/plain', {}, 'no webhook_verify');
    ok($got && !exists $got->{headers}{'x-verify'}, '$webhook_verify_status is empty where nothing is verified');
    $got = passes('/github', sign_github($GH, $body), 'enforce: good signature');
    is($got && $got->{headers}{'x-verify'}, 'ok', 'enforce: $webhook_verify_status = ok at the upstream');
}

# --- inheritance and webhook_verify off ------------------------------------------------

refused('/nested/x', {}, 'missing_signature', 'outer location verifies');
passes('/nested/x', sign_github($GH, $body), 'outer location: signed');
{
    my $got = passes('/nested/open', {}, 'webhook_verify off in a nested location');
    ok($got && !exists $got->{headers}{'x-verify'}, 'off: $webhook_verify_status empty');
}
refused('/anything', {}, 'missing_signature', 'server-level webhook_verify inherited', $body, 'PORT2');
passes('/anything', sign_github($GH, $body), 'server-level: signed', $body, 'PORT2');
passes('/public', {}, 'server-level: webhook_verify off in a location', $body, 'PORT2');

# GET without a body is verified too (an empty body is what is signed).
{
    my $res = http_get($ng->url('/github'), {});
    is($res->{status}, 401, 'GET without signature: 401');
    $res = http_get($ng->url('/github'), sign_github($GH, ''));
    is($res->{status}, 200, 'GET signed over the empty body: 200');
}

# --- the logs -------------------------------------------------------------------------

$ng->log_is_clean;
$ng->log_lacks($_, 'a secret is not in the logs') for $GH, $OLD, $NEW, $ACME, $GLOBEX, $STD, $STRIPE, $SLACK, $SHOPIFY;
{
    my %seen;
    my @sigs = grep { length > 12 && !$seen{$_}++ && !/^(?:msg_|delivery-|hm-|\d+$)/ } @signatures_sent;
    my $log = $ng->error_log;
    my @leaked = grep { index($log, $_) >= 0 } @sigs;
    ok(!@leaked, 'no signature header value is in the error log') or diag("leaked: @leaked[0..0]");
}
my @workers = $ng->worker_pids;
is(scalar @workers, 2, 'two workers');

done_testing;
