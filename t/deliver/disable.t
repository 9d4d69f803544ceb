# disable_after (README.md#the-delivery-model): an endpoint that fails every attempt for that long
# is disabled (enabled:false, disabled_reason) and gets no new deliveries; a
# success in between starts the clock again; re-enabling clears the reason.
use v5.36;
use Test::More;
use Time::HiRes qw(sleep);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-delivery-disable-77c1';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s,1s,1s,1s,1s', timeout => '2s', delivery => 'disable_after=2s');
$ng->start;

$recv->script('/down', [{ status => 500 }]);
$recv->script('/flappy', [{ status => 500 }, { status => 200 }]);
my $down = create_webhook($ng, $ADMIN, url => $recv->url('/down'), events => ['*'], tenant => 'down');
my $flappy = create_webhook($ng, $ADMIN, url => $recv->url('/flappy'), events => ['*'], tenant => 'flappy');

my $ev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'down', data => {});
my $ep;
wait_until(sub { $ep = api($ng, 'GET', "/webhooks/$down->{id}", undef, key => $ADMIN)->{json}; !$ep->{enabled} }, 20);
ok(!$ep->{enabled}, 'an endpoint failing every attempt for disable_after is disabled');
like($ep->{disabled_reason} // '', qr/disable_after/, 'disabled_reason says why');
sleep 1.5;
my $d = delivery_for($ng, $ADMIN, $down->{id}, $ev->{id});
is($d->{status}, 'pending', 'the delivery that crossed the line stays pending (not lost): it resumes on re-enable');
cmp_ok($d->{attempts}, '>=', 3, "it took a few attempts first ($d->{attempts})");
cmp_ok($d->{attempts}, '<', 6, 'and no attempt is made while the endpoint is disabled');

my $seen = $recv->count('/down');
my $next = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'down', data => {});
is($next->{deliveries}, 0, 'a disabled endpoint gets no new deliveries');

# Flapping: 500 then 200, twice over, more than disable_after apart: never disabled.
for my $round (1 .. 2) {
    my $e = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'flappy', data => { round => $round });
    my $fd = wait_delivery($ng, $ADMIN, $flappy->{id}, $e->{id}, timeout => 20);
    is($fd->{status}, 'succeeded', "flappy round $round: succeeded on a retry");
    $recv->script('/flappy', [{ status => 500 }, { status => 200 }]);
    sleep 1.5;
}
ok(api($ng, 'GET', "/webhooks/$flappy->{id}", undef, key => $ADMIN)->{json}{enabled},
   'an endpoint that succeeds in between stays enabled');

# Re-enabling clears the reason and delivers again.
$recv->script('/down', [{ status => 204 }]);
my $res = api($ng, 'PATCH', "/webhooks/$down->{id}", { enabled => JSON::PP::true() }, key => $ADMIN);
is($res->{status}, 200, 'PATCH enabled:true');
ok($res->{json}{enabled} && !defined $res->{json}{disabled_reason}, 're-enabled, no disabled_reason');
my $again = publish($ng, $ADMIN, type => 'room.on_air', tenant => 'down', data => {});
is($again->{deliveries}, 1, 're-enabled: deliveries again');
is(wait_delivery($ng, $ADMIN, $down->{id}, $again->{id}, timeout => 10)->{status}, 'succeeded', 'and it arrives');
is(wait_delivery($ng, $ADMIN, $down->{id}, $ev->{id}, timeout => 10)->{status}, 'succeeded',
   'the delivery held while disabled goes too');
cmp_ok($recv->count('/down'), '>', $seen, 'the receiver saw it');

ok($ng->log_is_clean, 'no [alert], [emerg] or [crit] in the error log');
$ng->stop;
done_testing;
