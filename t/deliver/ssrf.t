# SSRF guard (README.md#the-delivery-model): without allow_private, loopback, private, link-local,
# multicast and unspecified addresses are refused — at registration for IP
# literals (422 url_not_allowed), at delivery for names that resolve there
# (the attempt fails with error address_not_allowed and nothing reaches the
# address). allow=CIDR opens a range; the connection goes to the checked
# address with the URL's Host. Names are resolved through NGINX's resolver,
# pointed at a tiny DNS server of the test; no resolver: error no_resolver.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest ();
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-ssrf-4d8c11';
my $rx = DeliveryTest::HoldingReceiver->start(children => 2);
my $P = $rx->port;
my $dns = DeliveryTest::DNS->start(names => {
    'evil.test'     => '127.0.0.1',
    'inside.test'   => '10.20.30.40',
    'metadata.test' => '169.254.169.254',
    'zero.test'     => '0.0.0.0',
});

# allow_http=on without allow_private: the guard under test.
my %base = (admin => $ADMIN, size => '8m', state => 1, http => $dns->resolver, vars => { RX => $P },
            policy => 'allow_http=on', retries => '0s', timeout => '2s');
my $ng = delivery_nginx(%base);
$ng->start;

sub post_webhook($n, $url, $events = ['*']) {
    return KeysTest::api($n, 'POST', '/webhooks', { url => $url, events => $events }, key => $ADMIN);
}

# --- registration of address literals ------------------------------------------------------------

my @refused = (
    "127.0.0.1:$P", '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1',
    '169.254.169.254', '0.0.0.0', '224.0.0.1', '239.255.255.250', '[::1]', "[::1]:$P", '[fc00::1]', '[fd12:3456::1]',
    '[fe80::1]', '[::]', '[ff02::1]', '[::ffff:127.0.0.1]', '[::ffff:10.0.0.1]',
);
for my $host (@refused) {
    for my $scheme (qw(http https)) {
        my $res = post_webhook($ng, "$scheme://$host/hook");
        is($res->{status} . ' ' . (error_code($res) // ''), '422 url_not_allowed', "$scheme://$host refused at registration");
    }
}
for my $host ('localhost', "localhost:$P", 'api.localhost') {
    my $res = post_webhook($ng, "http://$host/hook");
    is($res->{status} . ' ' . (error_code($res) // ''), '422 url_not_allowed', "http://$host refused at registration");
}
# Ranges next to the private ones are public.
for my $host ('172.15.255.255', '172.32.0.1', '192.169.0.1', '11.0.0.1', '8.8.8.8', '[2001:4860::8888]') {
    my $res = post_webhook($ng, "https://$host/hook", ['never.published']);
    is($res->{status}, 201, "https://$host (public) registers") or diag($res->{content});
    KeysTest::api($ng, 'DELETE', "/webhooks/$res->{json}{id}", undef, key => $ADMIN) if $res->{status} == 201;
}
is(KeysTest::api($ng, 'GET', '/webhooks', undef, key => $ADMIN)->{json}{total}, 0, 'no endpoint was stored by the refusals');

# --- names that resolve inside: refused at delivery --------------------------------------------------

my %wh;
for my $name (qw(evil inside metadata zero)) {
    my $res = post_webhook($ng, "http://$name.test:$P/in", ["$name.*"]);
    is($res->{status}, 201, "http://$name.test:$P registers (a name: checked at delivery)");
    $wh{$name} = $res->{json}{id};
}
{
    my $res = post_webhook($ng, "http://nowhere.test:$P/in", ['nowhere.*']);
    is($res->{status}, 201, 'a name that does not resolve registers');
    $wh{nowhere} = $res->{json}{id};
    # Numeric forms that are not IP literals are names: resolved, never dialled as 127.0.0.1.
    for my $odd ('2130706433', '0x7f000001', '017700000001', '127.1') {
        my $r = post_webhook($ng, "http://$odd:$P/in", ['odd.*']);
        ok($r->{status} == 201 || $r->{status} == 422, "http://$odd:$P: registered as a name or refused ($r->{status})");
    }
}

for my $name (qw(evil inside metadata zero)) {
    publish($ng, $ADMIN, type => "$name.ping", data => { name => $name });
    my $d = settled_delivery($ng, $ADMIN, $wh{$name});
    is($d->{status}, 'failed', "$name.test: the delivery failed");
    is($d->{error}, 'address_not_allowed', "$name.test: error address_not_allowed");
    is($d->{response_status}, undef, "$name.test: no response status (no connection)");
}
publish($ng, $ADMIN, type => 'nowhere.ping', data => {});
{
    my $d = settled_delivery($ng, $ADMIN, $wh{nowhere});
    is($d->{status}, 'failed', 'a name that does not resolve: failed');
    like($d->{error} // '', qr/dns/, "a name that does not resolve: a DNS error ($d->{error})");
}
publish($ng, $ADMIN, type => 'odd.ping', data => {});
sleep 2;
is($rx->count, 0, 'nothing reached the receiver on 127.0.0.1');
ok(scalar(grep { /^evil\.test / } $dns->queries), 'the module asked the resolver for evil.test');
{
    my $hook = KeysTest::api($ng, 'GET', "/webhooks/$wh{evil}", undef, key => $ADMIN)->{json};
    is($hook->{last_error}, 'address_not_allowed', 'the endpoint shows last_error address_not_allowed');
}
{
    my $m = $ng->log_mark;
    publish($ng, $ADMIN, type => 'evil.again', data => {});
    my @l = $ng->wait_log($m, qr/address_not_allowed/, 10);
    ok(@l >= 1, 'the refusal is logged with its code');
    unlike(join("\n", @l), qr/\[(?:alert|crit|emerg)\]/, 'at an operator level, not alert');
}

# --- allow=127.0.0.0/8 opens loopback only --------------------------------------------------------------------

$ng->write_conf(conf => delivery_conf(%base, delivery => 'allow=127.0.0.0/8,192.0.2.0/24'));
$ng->reload;
$rx->clear;
my $evt = publish($ng, $ADMIN, type => 'evil.allowed', data => { ok => 1 })->{id};
ok(wait_for(sub { !$rx->missing([$evt]) }, 10), 'allow=127.0.0.0/8: the name resolving to 127.0.0.1 is delivered');
my ($req) = grep { ($_->{id} // '') eq $evt } $rx->requests;
is($req->{host}, "evil.test:$P", 'the receiver sees Host: the URL\'s name (not the address)');
is($req->{target}, '/in', 'to the URL\'s path');
is(settled_delivery($ng, $ADMIN, $wh{evil})->{status}, 'succeeded', 'the delivery succeeded');
publish($ng, $ADMIN, type => 'inside.still', data => {});
sleep 1.5;
my $inside = settled_delivery($ng, $ADMIN, $wh{inside});
is($inside->{error}, 'address_not_allowed', 'a name resolving to 10.20.30.40 is still refused');
{
    my $res = post_webhook($ng, "http://127.0.0.1:$P/literal", ['lit.*']);
    is($res->{status}, 201, 'allow=127.0.0.0/8: the literal 127.0.0.1 registers');
    my $e = publish($ng, $ADMIN, type => 'lit.one', data => {})->{id};
    ok(wait_for(sub { !$rx->missing([$e]) }, 10), 'and is delivered');
    my $r2 = post_webhook($ng, 'http://10.1.2.3/x');
    is(error_code($r2), 'url_not_allowed', 'allow=127.0.0.0/8: 10.1.2.3 is still refused');
    my $r3 = post_webhook($ng, 'http://[::1]/x');
    is(error_code($r3), 'url_not_allowed', 'allow=127.0.0.0/8 (IPv4): [::1] is still refused');
}
# localhost is loopback by definition (RFC 6761): allow= that opens 127.0.0.1
# opens it, at registration and at delivery, and it is never asked of DNS.
{
    my $res = post_webhook($ng, "http://localhost:$P/lh", ['lh.*']);
    is($res->{status}, 201, 'allow=127.0.0.0/8: http://localhost registers') or diag($res->{content});
    my $e = publish($ng, $ADMIN, type => 'lh.one', data => {})->{id};
    ok(wait_for(sub { !$rx->missing([$e]) }, 10), 'and is delivered to 127.0.0.1');
    my ($got) = grep { ($_->{id} // '') eq $e } $rx->requests;
    is($got && $got->{host}, "localhost:$P", 'with Host: localhost');
    ok(!grep({ /^localhost/i } $dns->queries), 'localhost was not asked of the resolver');
}

# DNS rebinding: the name now points elsewhere (10.x); the next attempt checks again.
$dns->set_names({ 'evil.test' => '10.9.9.9' });
sleep 1.5;   # valid=1s
publish($ng, $ADMIN, type => 'evil.rebound', data => {});
sleep 1;
ok(wait_for(sub { my $d = deliveries($ng, $ADMIN, $wh{evil})->{deliveries}[0]; $d && $d->{status} eq 'failed' }, 10),
   'evil.test rebound to 10.9.9.9: the next delivery is refused')
    and is(deliveries($ng, $ADMIN, $wh{evil})->{deliveries}[0]{error}, 'address_not_allowed', 'with address_not_allowed');
$ng->log_is_clean;
$ng->stop;

# --- no resolver ---------------------------------------------------------------------------------------------------

my $nr = delivery_nginx(admin => $ADMIN, size => '8m', state => 1, vars => { RX => $P }, retries => '0s', timeout => '2s');
$nr->start;
{
    my $res = post_webhook($nr, "http://evil.test:$P/in");
    is($res->{status}, 201, 'without a resolver, a name registers');
    publish($nr, $ADMIN, type => 'any.thing', data => {});
    my $d = settled_delivery($nr, $ADMIN, $res->{json}{id});
    is($d->{status}, 'failed', 'without a resolver: the delivery fails');
    is($d->{error}, 'no_resolver', 'with error no_resolver');
    # Every attempt to a name fails until the configuration changes: the
    # operator is told at warn, once per worker (not only at info per attempt).
    publish($nr, $ADMIN, type => 'any.thing', data => {});
    settled_delivery($nr, $ADMIN, $res->{json}{id});
    my @said = grep { /\[warn\].*webhook delivery: no "resolver" applies to location "\/_webhook"/ } split /\n/, $nr->error_log;
    ok(@said >= 1 && @said <= scalar($nr->worker_pids), 'no_resolver: a [warn] naming the location, once per worker')
        or diag(scalar(@said) . " lines:\n" . join "\n", @said);
}
$nr->log_is_clean;
$nr->stop;

done_testing;
