# Outbound signatures (README.md#the-delivery-model): every delivery verifies with the receivers'
# own libraries (standardwebhooks and svix, t/npm/verify.mjs); the request's
# shape (POST, JSON body {type,timestamp,data}, webhook-id = the event id on
# every retry); rotate-secret signs with the old and the new secret for 24 h;
# `webhook_sign hmac …` (Stairoids) checked with a plain HMAC-SHA256.
use v5.36;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use MIME::Base64 qw(encode_base64);
use Time::Local ();
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-signing-19f3';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s,1s');
$ng->start;

sub lib_ok($secret, $reqs, $name) {
    my @v = library_verify($secret, @$reqs);
    my @bad = grep { $v[$_]{standardwebhooks} ne '1' || $v[$_]{svix} ne '1' } 0 .. $#v;
    ok(@v == @$reqs && @v > 0 && !@bad, $name)
        or diag explain [map { { verdict => $v[$_], headers => $reqs->[$_]{headers} } } @bad];
}

sub lib_fails($secret, $reqs, $name) {
    my @v = library_verify($secret, @$reqs);
    ok(@v > 0 && !grep({ $_->{standardwebhooks} eq '1' || $_->{svix} eq '1' } @v), $name) or diag explain \@v;
}

# --- the request, verified by standardwebhooks and svix ---------------------------------------

my $wh = create_webhook($ng, $ADMIN, url => $recv->url('/std'), events => ['*']);
my $chosen = 'whsec_' . encode_base64('a secret the customer picked, 32b', '');
my $wh2 = create_webhook($ng, $ADMIN, url => $recv->url('/chosen'), events => ['room.*'], secret => $chosen);

my @data = (
    { room => 'r1', on_air => JSON::PP::true(), n => 3 },
    { text => "quotes \" and \\ backslash, tab\t, unicode \x{e9}\x{2603}", list => [1, 2.5, undef, 'x'] },
    [],
    'a plain string',
    42,
    { nested => { deep => { deeper => [{ a => 1 }, { b => [] }] } }, empty => {} },
);
my @events;
my $t0 = time;
for my $i (0 .. $#data) {
    push @events, publish($ng, $ADMIN, type => $i % 2 ? 'ticket.sold' : 'room.on_air', data => $data[$i]);
}
is($events[0]{deliveries}, 2, 'room.on_air goes to both endpoints');
is($events[1]{deliveries}, 1, 'ticket.sold only to the * endpoint');

my @std = $recv->wait_requests('/std', scalar @data);
my @cho = $recv->wait_requests('/chosen', 3);
is(scalar @std, scalar @data, 'every event arrived at the * endpoint');
is(scalar @cho, 3, 'the room.* endpoint got the three room events');
lib_ok($wh->{secret}, \@std, 'standardwebhooks and svix verify every delivery (generated secret)');
lib_ok($chosen, \@cho, 'standardwebhooks and svix verify every delivery (secret chosen by the customer)');
lib_fails($chosen, [$std[0]], 'another endpoint\'s secret does not verify');
ok(!grep({ !standard_verify($wh->{secret}, $_) } @std), 'the Perl Standard Webhooks recipe agrees');

my %by_id = map { $_->{headers}{'webhook-id'} => $_ } @std;
for my $i (0 .. $#data) {
    my $r = $by_id{ $events[$i]{id} };
    ok($r, "event $i: webhook-id is the event id") or next;
    is($r->{method}, 'POST', "event $i: POST");
    is($r->{target}, '/std', "event $i: the path of the URL");
    like($r->{headers}{'content-type'}, qr{^application/json\b}, "event $i: Content-Type application/json");
    is($r->{headers}{host}, '127.0.0.1:' . $recv->port, "event $i: Host of the URL");
    my $ts = $r->{headers}{'webhook-timestamp'};
    ok(defined $ts && $ts =~ /^\d+$/ && abs($ts - $t0) < 60, "event $i: webhook-timestamp is now (unix seconds)");
    like($r->{headers}{'webhook-signature'}, qr{^v1,[A-Za-z0-9+/]{43}=$}, "event $i: one v1 signature");
    my $j = $r->{json};
    ok(ref $j eq 'HASH', "event $i: the body is a JSON object") or next;
    is_deeply([sort keys %$j], [qw(data timestamp type)], "event $i: exactly type, timestamp, data");
    is($j->{type}, $i % 2 ? 'ticket.sold' : 'room.on_air', "event $i: type");
    like($j->{timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/, "event $i: timestamp is RFC 3339");
    is_deeply($j->{data}, $data[$i], "event $i: data as published");
    is($r->{headers}{'x-id'}, $events[$i]{id}, "event $i: \$webhook_id in the delivery location");
    is($r->{headers}{'x-endpoint'}, $wh->{id}, "event $i: \$webhook_endpoint_id");
    is($r->{headers}{'x-event'}, $j->{type}, "event $i: \$webhook_event");
    is($r->{headers}{'x-attempt'}, 1, "event $i: \$webhook_attempt is 1");
}

# The delivery record holds the payload that was signed.
my $d = wait_delivery($ng, $ADMIN, $wh->{id}, $events[1]{id});
is($d->{status}, 'succeeded', 'the delivery is succeeded');
is_deeply($d->{payload}, $by_id{ $events[1]{id} }{json}, 'GET /deliveries/{id}: payload is the body sent');

# --- the same webhook-id on every retry ------------------------------------------------------------

$recv->script('/flaky', [{ status => 500 }, { status => 503 }, { status => 200 }]);
my $fl = create_webhook($ng, $ADMIN, url => $recv->url('/flaky'), events => ['ticket.sold'], tenant => 'flaky');
my $ev = publish($ng, $ADMIN, type => 'ticket.sold', tenant => 'flaky', data => { seat => '12F' });
my @fr = $recv->wait_requests('/flaky', 3, 20);
is(scalar @fr, 3, 'a flaky endpoint got three attempts');
is_deeply([map { $_->{headers}{'webhook-id'} } @fr], [($ev->{id}) x 3], 'the same webhook-id on every retry');
is_deeply([map { $_->{headers}{'x-attempt'} } @fr], [1, 2, 3], '$webhook_attempt counts 1, 2, 3');
is(scalar(grep { $_->{body} eq $fr[0]{body} } @fr), 3, 'the same body on every retry');
lib_ok($fl->{secret}, \@fr, 'every retry verifies with the libraries');
ok($fr[2]{headers}{'webhook-timestamp'} >= $fr[0]{headers}{'webhook-timestamp'}, 'webhook-timestamp is the attempt\'s own');

# --- rotation ----------------------------------------------------------------------------------------

my $old = $wh->{secret};
my $res = api($ng, 'POST', "/webhooks/$wh->{id}/rotate-secret", undef, key => $ADMIN);
is($res->{status}, 200, 'rotate-secret: 200');
my $new = $res->{json}{secret};
like($new, qr/^whsec_[A-Za-z0-9+\/]+=*$/, 'rotate-secret: a new whsec_ secret');
isnt($new, $old, 'the new secret differs from the old');
is($res->{headers}{'cache-control'}, 'no-store', 'rotate-secret: Cache-Control no-store');
my $exp = $res->{json}{previous_secret_expires_at} // '';
my ($Y, $M, $D, $h, $m, $s) = $exp =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/;
ok(defined $s, 'previous_secret_expires_at is RFC 3339');
my $exp_t = defined $s ? Time::Local::timegm($s, $m, $h, $D, $M - 1, $Y) : 0;
ok(abs($exp_t - (time + 86400)) < 120, 'previous_secret_expires_at is 24 h from now');
my $get = api($ng, 'GET', "/webhooks/$wh->{id}", undef, key => $ADMIN);
ok(index($get->{content}, $new) < 0 && index($get->{content}, $old) < 0, 'GET after rotation shows no secret');

$recv->script('/std', [{ status => 200 }]);
my $before = $recv->count('/std');
$ev = publish($ng, $ADMIN, type => 'ticket.sold', data => { after => 'rotation' });
my @rot = $recv->wait_requests('/std', $before + 1);
my ($rr) = grep { $_->{headers}{'webhook-id'} eq $ev->{id} } @rot;
ok($rr, 'a delivery after the rotation arrived');
my @sigs = split / /, $rr->{headers}{'webhook-signature'} // '';
is(scalar @sigs, 2, 'during the rotation: two space-separated signatures');
lib_ok($new, [$rr], 'the new secret verifies (standardwebhooks, svix)');
lib_ok($old, [$rr], 'the old secret still verifies (standardwebhooks, svix)');

# A second rotation: the first secret is gone, the second now the old one.
$res = api($ng, 'POST', "/webhooks/$wh->{id}/rotate-secret", undef, key => $ADMIN);
my $newer = $res->{json}{secret};
$before = $recv->count('/std');
$ev = publish($ng, $ADMIN, type => 'ticket.sold', data => { after => 'second rotation' });
@rot = $recv->wait_requests('/std', $before + 1);
($rr) = grep { $_->{headers}{'webhook-id'} eq $ev->{id} } @rot;
ok($rr, 'a delivery after the second rotation arrived');
lib_ok($newer, [$rr], 'second rotation: the newest secret verifies');
lib_ok($new, [$rr], 'second rotation: the previous secret verifies');
lib_fails($old, [$rr], 'second rotation: the first secret no longer verifies');

# A customer key with webhooks:manage rotates its own webhook, not others'.
my $kt = create_key($ng, $ADMIN, resource => 'flaky', scopes => ['webhooks:manage']);
is(api($ng, 'POST', "/webhooks/$fl->{id}/rotate-secret", undef, key => $kt->{key})->{status}, 200, 'a manage key rotates its own webhook');
is(api($ng, 'POST', "/webhooks/$wh->{id}/rotate-secret", undef, key => $kt->{key})->{status}, 404, '… not another tenant\'s');

$ng->log_is_clean;
for my $sec ($old, $new, $newer, $chosen, $fl->{secret}) {
    (my $b = $sec) =~ s/^whsec_//;
    $ng->log_lacks($b, 'no endpoint secret in the logs') or last;
}
$ng->log_lacks($rr->{headers}{'webhook-signature'} =~ s/^v1,//r =~ s/ .*//r, 'no signature in the logs');

# --- webhook_sign hmac (Stairoids) ------------------------------------------------------------------

my $recv2 = DeliveryTest::ScriptedReceiver->start;
my $hm = delivery_nginx(admin => $ADMIN,
    sign => 'webhook_sign hmac header=X-Stairoids-Signature prefix=sha256= encoding=hex event_header=X-Stairoids-Event id_header=X-Stairoids-Delivery;');
$hm->start;
my $raw = 'stairoids-shared-secret-0001';
my $hw = create_webhook($hm, $ADMIN, url => $recv2->url('/stairoids'), events => ['*'], secret => $raw);
my $hg = create_webhook($hm, $ADMIN, url => $recv2->url('/generated'), events => ['*']);
my @hev = map { publish($hm, $ADMIN, type => 'room.on_air', data => { n => $_, s => "\x{2603}" }) } 1 .. 3;
my @hr = $recv2->wait_requests('/stairoids', 3);
my @hgr = $recv2->wait_requests('/generated', 3);
is(scalar @hr, 3, 'hmac: three deliveries arrived');
for my $r (@hr) {
    is($r->{headers}{'x-stairoids-signature'}, 'sha256=' . hmac_sha256_hex($r->{body}, $raw),
       'hmac: X-Stairoids-Signature is sha256=<hex HMAC-SHA256 of the body> with the raw secret');
    is($r->{headers}{'x-stairoids-event'}, 'room.on_air', 'hmac: X-Stairoids-Event is the type');
    like($r->{headers}{'x-stairoids-delivery'} // '', qr/^\S+$/, 'hmac: X-Stairoids-Delivery is set');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'hmac: Content-Type application/json');
    is($r->{json}{type}, 'room.on_air', 'hmac: the same JSON body');
}
my %ids = map { $_->{headers}{'x-stairoids-delivery'} => 1 } @hr;
is(scalar keys %ids, 3, 'hmac: one X-Stairoids-Delivery per delivery');
my $hd = wait_delivery($hm, $ADMIN, $hw->{id}, $hev[0]{id});
my ($hr0) = grep { $_->{json}{data}{n} == 1 } @hr;
ok($hd && $hr0 && ($hr0->{headers}{'x-stairoids-delivery'} eq $hd->{id} || $hr0->{headers}{'x-stairoids-delivery'} eq $hev[0]{id}),
   'hmac: X-Stairoids-Delivery names the delivery (or its event)');
for my $r (@hgr) {
    is($r->{headers}{'x-stairoids-signature'}, 'sha256=' . hmac_sha256_hex($r->{body}, $hg->{secret}),
       'hmac: a generated secret is used as written (raw) as the key');
}
$hm->log_is_clean('hmac instance: error log has no [alert]/[emerg]/[crit]');
$hm->log_lacks($raw, 'hmac: the secret is not logged');

done_testing;
