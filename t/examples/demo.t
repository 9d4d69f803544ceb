# `make run` / `make stop` (examples/demo/demo.sh): the demo starts on the port
# it is given (every port moves), its tour (examples/demo/try.sh) behaves as it
# says — twice in a row, over the state the first run left — and it stops.
use v5.36;
use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use WebhookTest qw(:all);

plan skip_all => 'demo.sh runs the stock nginx without the sanitizer runtimes (the SANITIZE=1 run covers the module elsewhere)'
    if $ENV{WEBHOOK_SANITIZER_PRELOAD};

my $root = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $prefix = tempdir('ngx_webhook_demo_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
chmod 0755, $prefix;

# Three consecutive free ports.
my $port;
for (1 .. 50) {
    my $p = free_port();
    next if $p > 65000;
    if (!grep { WebhookTest::port_open($_) } $p + 1, $p + 2) { $port = $p; last }
}
ok $port, "three free ports from $port";

sub demo(@args) { return WebhookTest::_capture("$root/examples/demo/demo.sh", @args) }
END { demo('stop', $prefix) if $prefix }

for my $round (1, 2) {
    my $out = demo('start', module_path(), $prefix, $port);
    is $out->{exit}, 0, "round $round: started" or diag $out->{output};
    like $out->{output}, qr{ngx_webhook demo on http://127\.0\.0\.1:$port/}, "round $round: says where";
    like $out->{output}, qr/^P=$port LOGS=\Q$prefix\E\/logs$/m, "round $round: the printed tour uses this port";
    ok WebhookTest::port_open($port) && WebhookTest::port_open($port + 1) && WebhookTest::port_open($port + 2), "round $round: PORT, PORT+1, PORT+2 listen";
    my $page = http_get("http://127.0.0.1:$port/");
    is $page->{status}, 200, "round $round: a landing page at /";
    like $page->{content}, qr{href="/console/"}, 'it links the console';
    like $page->{content}, qr/PORT=$port sh examples\/demo\/try\.sh/, 'and shows the tour on this port';
    like http_get("http://127.0.0.1:$port/metrics")->{content}, qr/^webhook_/m, "round $round: metrics";

    my $tour = WebhookTest::_capture({ PORT => $port, LOGS => "$prefix/logs" }, 'sh', "$root/examples/demo/try.sh");
    is $tour->{exit}, 0, "round $round: the tour ran" or diag $tour->{output};
    my @status = $tour->{stdout} =~ /^HTTP\/1\.1 (\d+)/mg;
    is "@status", '200 401 401 200 403', "round $round: verified, replayed, bad signature, key ok, other room refused"
        or diag $tour->{stdout};
    like $tour->{stdout}, qr/"code":"replayed"/, 'the second send is a replay';
    like $tour->{stdout}, qr/"key":"\w+_[A-Za-z0-9]{32,}"/, 'a key was created';
    like $tour->{stdout}, qr/^\{"id":"evt_\w+","deliveries":1\}\n\(HTTP 202\)$/m, 'the event went to the demo receiver (202)';
    like $tour->{stdout}, qr/^$round deliveries received so far, the last:$/m, 'one more delivery received';
    like $tour->{stdout}, qr{^POST /hooks/stagetick HTTP/1\.\d 200 ok$}m, 'which verified it';
}

my $stop = demo('stop', $prefix);
is $stop->{exit}, 0, 'make stop' or diag $stop->{output};
ok !WebhookTest::port_open($port), 'stopped';
my $log = read_file("$prefix/logs/error.log") // '';
unlike $log, qr/\[(?:alert|emerg|crit)\]/, 'no alert, emerg or crit in the demo log';
like $log, qr/webhook_zone.*restored/, 'the second run restored the first run\'s state';

done_testing;
