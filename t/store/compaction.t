# Compaction while running (README.md#webhook_zone): when the journals outgrow the live state
# (4 x the snapshot, at least 32 MiB) worker 0 writes a new snapshot from the
# thread pool and the workers drop the journal files it covers; DIR stays
# bounded, and a restart from it has everything.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-compaction-1b9e';
my $ng = delivery_nginx(admin => $ADMIN, size => '128m', state => 1, zone => 'log=5', retries => '0s,1s', timeout => '',
                        locations => <<'LOC');
        client_max_body_size 2m;
        location /sink { return 204; }
LOC
$ng->start;
my $dir = $ng->prefix . '/state';
sub dir_bytes() { my $t = 0; $t += -s $_ for glob("$dir/*"); return $t }

my $wh = create_webhook($ng, $ADMIN, url => $ng->url('/sink'), events => ['*'], tenant => 't');
my $mark = $ng->log_mark;
# 48 events of ~900 KB each: ~43 MB of journal; log=5 keeps only the last 5.
my $body = '{"type":"bulk.sync","tenant":"t","data":{"pad":"' . ('p' x 900_000) . '"}}';
for my $i (1 .. 48) {
    my $res = http_post($ng->url('/v1/events'), $body,
                        { 'Content-Type' => 'application/json', Authorization => "Bearer $ADMIN" });
    $res->{status} == 202 or BAIL_OUT("publish $i failed: $res->{status}");
}
ok(wait_until(sub {
    my $res = api($ng, 'GET', "/webhooks/$wh->{id}/deliveries?status=pending", undef, key => $ADMIN);
    $res->{json} && $res->{json}{total} == 0
}, 60), 'all 48 large events delivered');
ok($ng->wait_log($mark, qr/compacted state into \d+ bytes/, 20), 'the journals outgrew the state: compacted while running');
ok(wait_until(sub {
    # The next journal batch moves each worker to a new file and removes what the snapshot covers.
    publish($ng, $ADMIN, type => 'small.one', tenant => 't', data => {});
    dir_bytes() < 20_000_000
}, 20), 'DIR shrank back to about the live state (' . dir_bytes() . ' bytes)');

my @ids = sort map { $_->{id} } @{ deliveries_of($ng, $ADMIN, $wh->{id}, limit => 100) };
cmp_ok(scalar @ids, '<=', 5 + 20, 'the log keeps about log=5 finished deliveries (' . scalar(@ids) . ')');
$ng->stop;
$ng->start;
is_deeply([sort map { $_->{id} } @{ deliveries_of($ng, $ADMIN, $wh->{id}, limit => 100) }], \@ids,
          'after a restart from the compacted DIR: the same deliveries');
my $ev = publish($ng, $ADMIN, type => 'after.restart', tenant => 't', data => {});
is(wait_delivery($ng, $ADMIN, $wh->{id}, $ev->{id}, timeout => 10)->{status}, 'succeeded', 'and delivery goes on');
unlike($ng->error_log, qr/\[(alert|emerg|crit)\]/, 'no [alert], [emerg] or [crit]');
$ng->stop;
done_testing;
