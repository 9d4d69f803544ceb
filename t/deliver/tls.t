# https endpoints (README.md#the-delivery-model): the module resolves the name (test DNS server),
# connects to the checked address, and the operator's proxy_ssl_* settings in
# the delivery location apply: with proxy_ssl_verify on and the test CA
# trusted, the delivery succeeds and the receiver sees SNI and Host = the
# URL's name; a certificate from another CA, or for another name, fails.
# Certificates are made with openssl in the test's temp dir.
use v5.36;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest ();
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-tls-91f0a3';

my $dir = tempdir('ngx_webhook_tls_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
chmod 0755, $dir;
make_ca($dir, 'ca');
make_ca($dir, 'other');
make_cert($dir, 'ca', 'good', 'hook.test');
make_cert($dir, 'other', 'untrusted', 'hook.test');
make_cert($dir, 'ca', 'wrongname', 'other.test');
chmod 0644, glob "$dir/*";
ok(-s "$dir/good.crt" && -s "$dir/untrusted.crt" && -s "$dir/wrongname.crt", 'certificates made with openssl');

# The receiving nginx: three TLS servers, each logging SNI, Host and webhook-id.
my $rxng = WebhookTest::Nginx->new(vars => { DIR => $dir }, conf => <<'EOF');
    log_format rx '$server_port|$ssl_server_name|$host|$http_host|$http_webhook_id|$request_method $request_uri';
    access_log %%PREFIX%%/rx.log rx;
    server {
        listen 127.0.0.1:%%PORT%% ssl;
        ssl_certificate %%DIR%%/good.crt;
        ssl_certificate_key %%DIR%%/good.key;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:%%PORT2%% ssl;
        ssl_certificate %%DIR%%/untrusted.crt;
        ssl_certificate_key %%DIR%%/untrusted.key;
        location / { return 204; }
    }
    server {
        listen 127.0.0.1:%%PORT3%% ssl;
        ssl_certificate %%DIR%%/wrongname.crt;
        ssl_certificate_key %%DIR%%/wrongname.key;
        location / { return 204; }
    }
EOF
$rxng->start;
my ($P1, $P2, $P3) = map { $rxng->port($_) } qw(PORT PORT2 PORT3);
sub rx_lines() {
    return map { my @f = split /\|/; { port => $f[0], sni => $f[1], host => $f[2], http_host => $f[3], id => $f[4], req => $f[5] } }
        split /\n/, read_file($rxng->prefix . '/rx.log') // '';
}

my $dns = DeliveryTest::DNS->start(names => { 'hook.test' => '127.0.0.1' });
my $ng = delivery_nginx(
    admin    => $ADMIN,
    size     => '8m',
    state    => 1,
    http     => $dns->resolver,
    policy   => '',   # https only, private addresses refused but for allow=
    retries  => '0s',
    timeout  => '3s',
    delivery => 'allow=127.0.0.0/8',
    proxy    => "proxy_ssl_server_name on; proxy_ssl_name \$webhook_server_name; proxy_ssl_verify on; "
              . "proxy_ssl_verify_depth 2; proxy_ssl_trusted_certificate $dir/ca.crt;",
);
$ng->start;

my $good = create_webhook($ng, $ADMIN, url => "https://hook.test:$P1/tls/in", events => ['good.*']);
my $untrusted = create_webhook($ng, $ADMIN, url => "https://hook.test:$P2/tls/in", events => ['untrusted.*']);
my $wrong = create_webhook($ng, $ADMIN, url => "https://hook.test:$P3/tls/in", events => ['wrong.*']);
{
    my $res = KeysTest::api($ng, 'POST', '/webhooks', { url => "http://hook.test:$P1/", events => ['*'] }, key => $ADMIN);
    is(error_code($res), 'url_not_allowed', 'http:// is refused without allow_http=on') or diag($res->{content});
}

my $evt = publish($ng, $ADMIN, type => 'good.one', data => { tls => 1 })->{id};
my $d = settled_delivery($ng, $ADMIN, $good->{id});
is($d->{status}, 'succeeded', 'https with a certificate from the trusted CA: succeeded') or diag(explain $d);
is($d->{response_status}, 204, 'the receiver answered 204');
my ($line) = grep { $_->{id} eq $evt } rx_lines();
ok($line, 'the receiver logged the request');
is($line->{sni}, 'hook.test', 'the receiver saw SNI hook.test');
is($line->{http_host}, "hook.test:$P1", 'and Host: hook.test:PORT');
is($line->{req}, 'POST /tls/in', 'POST to the URL\'s path');
is($line->{port}, $P1, 'on the port of the URL');

my $evt2 = publish($ng, $ADMIN, type => 'untrusted.one', data => {})->{id};
my $d2 = settled_delivery($ng, $ADMIN, $untrusted->{id});
is($d2->{status}, 'failed', 'a certificate from an untrusted CA: failed');
ok(defined $d2->{error} && $d2->{error} ne '', "with an error ($d2->{error})");
is($d2->{response_status}, undef, 'no response status');
ok(!grep({ $_->{id} eq $evt2 } rx_lines()), 'no request reached the untrusted server');

my $evt3 = publish($ng, $ADMIN, type => 'wrong.one', data => {})->{id};
my $d3 = settled_delivery($ng, $ADMIN, $wrong->{id});
is($d3->{status}, 'failed', 'a trusted certificate for another name: failed');
ok(!grep({ $_->{id} eq $evt3 } rx_lines()), 'no request reached the wrong-name server');
like($ng->error_log, qr/upstream SSL certificate (verify error|does not match)/, 'NGINX logs the verification failures');

# The same https endpoint keeps working across a reload (SSL contexts rebuilt).
$ng->reload;
my $evt4 = publish($ng, $ADMIN, type => 'good.two', data => {})->{id};
ok(wait_for(sub { grep { $_->{id} eq $evt4 } rx_lines() }, 10), 'after a reload: delivered over TLS again');
is(scalar(grep { $_->{sni} ne 'hook.test' } rx_lines()), 0, 'every request the receiver saw had SNI hook.test');

$ng->log_is_clean;
$rxng->log_is_clean('receiver: no [alert]/[emerg]/[crit]');
$ng->stop;
$rxng->stop;
done_testing;
