# Hardening of the SSRF guard (README.md#the-delivery-model): address literals that reach
# loopback or private space through IPv6 embeddings, deprecated site-local
# space, local-use NAT64, 6to4, and "localhost." with its trailing dot are
# refused at registration (422 url_not_allowed) without allow_private.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest ();
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-harden-ssrf-30d7e8';
my $ng = delivery_nginx(admin => $ADMIN, size => '8m', state => 1, policy => 'allow_http=on', retries => '0s', timeout => '2s');
$ng->start;

sub post_webhook($url) {
    return KeysTest::api($ng, 'POST', '/webhooks', { url => $url, events => ['never.published'] }, key => $ADMIN);
}

my @refused = (
    ['[::127.0.0.1]',        'IPv4-compatible ::/96 of 127.0.0.1'],
    ['[::7f00:1]',           'IPv4-compatible ::/96 of 127.0.0.1, hex form'],
    ['[::10.0.0.1]',         'IPv4-compatible ::/96 of 10.0.0.1'],
    ['[::169.254.169.254]',  'IPv4-compatible ::/96 of the metadata address'],
    ['[fec0::1]',            'site-local fec0::/10'],
    ['[feff::1]',            'site-local fec0::/10, top'],
    ['[64:ff9b:1::a00:1]',   'local-use NAT64 64:ff9b:1::/48'],
    ['[64:ff9b::7f00:1]',    'well-known NAT64 64:ff9b::/96 of 127.0.0.1'],
    ['[64:ff9b::a00:1]',     'well-known NAT64 64:ff9b::/96 of 10.0.0.1'],
    ['[2002:7f00:1::]',      '6to4 2002::/16 of 127.0.0.1'],
    ['[2002:a00:1::1]',      '6to4 2002::/16 of 10.0.0.1'],
    ['[2002:c0a8:101::1]',   '6to4 2002::/16 of 192.168.1.1'],
    ['localhost.',           'localhost. (trailing dot)'],
    ['LOCALHOST',            'LOCALHOST (upper case)'],
    ['api.localhost.',       'api.localhost. (trailing dot)'],
);
for my $r (@refused) {
    my ($host, $name) = @$r;
    for my $scheme (qw(https http)) {
        my $res = post_webhook("$scheme://$host/hook");
        is($res->{status} . ' ' . (error_code($res) // ''), '422 url_not_allowed', "$scheme://$host refused ($name)")
            or diag("today: $res->{status} $res->{content}");
        KeysTest::api($ng, 'DELETE', "/webhooks/$res->{json}{id}", undef, key => $ADMIN)
            if $res->{status} == 201 && $res->{json};
    }
}

# control: a public address registers
for my $host ('[2001:4860::8888]') {
    my $res = post_webhook("https://$host/hook");
    is($res->{status}, 201, "https://$host (public) registers") or diag($res->{content});
    KeysTest::api($ng, 'DELETE', "/webhooks/$res->{json}{id}", undef, key => $ADMIN) if $res->{status} == 201;
}
is(KeysTest::api($ng, 'GET', '/webhooks', undef, key => $ADMIN)->{json}{total}, 0, 'no endpoint left stored');
$ng->log_is_clean('ssrf: no [alert]/[emerg]/[crit]');
$ng->stop;
done_testing;
