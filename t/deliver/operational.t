# Operational events (docs/delivery.md#operational-events): the module publishes
# webhook.endpoint.failing (the first failure since a success),
# webhook.delivery.failed (attempts exhausted, or aborted), webhook.endpoint.disabled
# (410 Gone, disable_after, the API) and webhook.endpoint.enabled as ordinary
# events of the endpoint's tenant: delivered to the tenant's endpoints
# subscribed by name or webhook.*, never to the endpoint they are about, never
# to "*" subscribers, never to another tenant; a failing subscriber does not
# start an endless chain; GET /event-types lists them; applications cannot
# publish or declare them.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);
use ConfTest qw(refused);

my $ADMIN = 'admin-key-delivery-operational-4b2e';

my $recv = DeliveryTest::ScriptedReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s', types => ['webhook_event_type room.on_air;']);
$ng->start;

$recv->script('/down', [{ status => 500 }]);
$recv->script('/gone', [{ status => 410 }]);

my $down = create_webhook($ng, $ADMIN, url => $recv->url('/down'), events => ['room.on_air', 'webhook.*'], tenant => 't1');
my $bridge = create_webhook($ng, $ADMIN, url => $recv->url('/bridge'), events => ['webhook.*'], tenant => 't1');
my $star = create_webhook($ng, $ADMIN, url => $recv->url('/star'), events => ['*'], tenant => 't1');
my $exact = create_webhook($ng, $ADMIN, url => $recv->url('/exact'), events => ['webhook.delivery.failed'], tenant => 't1');
my $elsewhere = create_webhook($ng, $ADMIN, url => $recv->url('/elsewhere'), events => ['webhook.*'], tenant => 't2');

sub ops($path, $type = undef) {
    return grep { !defined $type || $_->{json}{type} eq $type } grep { ($_->{json}{type} // '') =~ /^webhook\./ } $recv->requests($path);
}

# --- a delivery that fails twice: failing once, then failed ----------------------------------------

my $ev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 't1', data => { room => 'r1' });
is($ev->{deliveries}, 2, 'room.on_air goes to the failing endpoint and the * one');
my $d = wait_delivery($ng, $ADMIN, $down->{id}, $ev->{id});
is($d->{status}, 'failed', 'the delivery failed after its 2 attempts');

ok(wait_for(sub { ops('/bridge', 'webhook.delivery.failed') >= 1 }, 15), 'the bridge got webhook.delivery.failed');
my ($failing) = ops('/bridge', 'webhook.endpoint.failing');
ok($failing, 'the bridge got webhook.endpoint.failing');
is(scalar(ops('/bridge', 'webhook.endpoint.failing')), 1, 'failing is sent once (the first failure since a success), not per attempt');
my $fd = $failing->{json}{data};
is($fd->{endpoint_id}, $down->{id}, 'failing: endpoint_id');
is($fd->{host}, '127.0.0.1:' . $recv->port, 'failing: host (of the URL)');
ok(exists $fd->{name} && !defined $fd->{name}, 'failing: name (null: none given)');
ok(!exists $fd->{url} && index($failing->{body}, '/down') < 0,
   'failing: never the URL\'s path (it may hold a receiver\'s token)');
is($fd->{delivery_id}, $d->{id}, 'failing: delivery_id');
is($fd->{event_id}, $ev->{id}, 'failing: event_id');
is($fd->{event}, 'room.on_air', 'failing: event (the type)');
is($fd->{attempts}, 1, 'failing: after the first attempt');
is($fd->{response_status}, 500, 'failing: response_status');
is($fd->{error}, 'http_500', 'failing: error');

my ($failed) = ops('/bridge', 'webhook.delivery.failed');
my $xd = $failed->{json}{data};
is($xd->{delivery_id}, $d->{id}, 'delivery.failed: delivery_id');
is($xd->{attempts}, 2, 'delivery.failed: attempts exhausted (2)');
is($xd->{endpoint_id}, $down->{id}, 'delivery.failed: endpoint_id');
is($xd->{response_status}, 500, 'delivery.failed: the last response_status');
like($failed->{headers}{'webhook-signature'} // '', qr/^v1,/, 'operational events are signed like any other');
is_deeply([library_verify($bridge->{secret}, $failed)], [{ standardwebhooks => 1, svix => 1 }],
          'and verify with the bridge\'s secret (standardwebhooks, svix)');
ok(wait_for(sub { ops('/exact', 'webhook.delivery.failed') == 1 }, 15), 'an exact subscription gets delivery.failed');
is(scalar(ops('/exact', 'webhook.endpoint.failing')), 0, '… and not failing');

# --- the endpoint disabled at once by 410 Gone -----------------------------------------------------

my $gone = create_webhook($ng, $ADMIN, url => $recv->url('/gone?token=s3cr3t-in-the-query'), events => ['room.on_air'],
                          tenant => 't1', name => 'Gone hook');
$ev = publish($ng, $ADMIN, type => 'room.on_air', tenant => 't1', data => { room => 'r2' });
ok(wait_for(sub { grep { $_->{json}{data}{endpoint_id} eq $gone->{id} } ops('/bridge', 'webhook.endpoint.disabled') }, 15),
   'the bridge got webhook.endpoint.disabled for the 410 endpoint');
my ($dis) = grep { $_->{json}{data}{endpoint_id} eq $gone->{id} } ops('/bridge', 'webhook.endpoint.disabled');
is($dis->{json}{data}{reason}, 'the endpoint answered 410 Gone', 'disabled: the reason');
is($dis->{json}{data}{name}, 'Gone hook', 'disabled: the endpoint\'s name');
ok(index($dis->{body}, 's3cr3t') < 0, 'disabled: no part of the URL\'s query');
is(api($ng, 'GET', "/webhooks/$gone->{id}", undef, key => $ADMIN)->{json}{enabled}, JSON::PP::false(), 'the endpoint is disabled');

# --- enabled and disabled through the API ---------------------------------------------------------

is(api($ng, 'PATCH', "/webhooks/$gone->{id}", { enabled => JSON::PP::true() }, key => $ADMIN)->{status}, 200, 'PATCH enabled true');
ok(wait_for(sub { grep { $_->{json}{data}{endpoint_id} eq $gone->{id} } ops('/bridge', 'webhook.endpoint.enabled') }, 15),
   'the bridge got webhook.endpoint.enabled');
is(api($ng, 'PATCH', "/webhooks/$gone->{id}", { enabled => JSON::PP::false() }, key => $ADMIN)->{status}, 200, 'PATCH enabled false');
ok(wait_for(sub { grep { ($_->{json}{data}{reason} // '') eq 'disabled through the API' } ops('/bridge', 'webhook.endpoint.disabled') }, 15),
   'the bridge got webhook.endpoint.disabled, reason "disabled through the API"');
api($ng, 'PATCH', "/webhooks/$gone->{id}", { name => 'renamed' }, key => $ADMIN);
my $enabled_n = scalar(ops('/bridge', 'webhook.endpoint.enabled'));

# --- never to the endpoint it is about, never to *, never to another tenant ---------------------------

# Settle: the last events are out (the bridge's count no longer moves).
my $last = -1;
wait_for(sub { my $n = $recv->count('/bridge'); my $same = $n == $last; $last = $n; $same }, 15, 1);
is(scalar(grep { ($_->{json}{data}{endpoint_id} // '') eq $down->{id} } ops('/down')), 0,
   'the failing endpoint (subscribed to webhook.*) never got an event about itself');
is(scalar(ops('/star')), 0, 'a "*" subscriber gets no operational events');
is(scalar(ops('/elsewhere')), 0, 'another tenant\'s subscriber gets none');
is($enabled_n, 1, 'a PATCH that does not change enabled announces nothing');

# --- a failing subscriber: no endless chain ---------------------------------------------------------

$recv->script('/bridge', [{ status => 500 }]);
$recv->script('/exact', [{ status => 500 }]);
my $before = $recv->count('/bridge') + $recv->count('/exact');
publish($ng, $ADMIN, type => 'room.on_air', tenant => 't1', data => { room => 'r3' });
# Each failing subscriber fails once as "failing" news about the others; no
# delivery.failed about an operational event's delivery: the traffic stops.
$last = -1;
ok(wait_for(sub { my $n = $recv->count('/bridge') + $recv->count('/exact'); my $same = $n == $last && $n > $before; $last = $n; $same }, 30, 2),
   'operational traffic between failing subscribers settles');
my @about_bridge = grep { ($_->{json}{data}{endpoint_id} // '') eq $bridge->{id} } ops('/exact'), ops('/down');
ok(!grep({ $_->{json}{type} eq 'webhook.delivery.failed' && $_->{json}{data}{event} =~ /^webhook\./ } ops('/exact'), ops('/down')),
   'no webhook.delivery.failed about a delivery of an operational event');
cmp_ok($recv->count('/bridge') + $recv->count('/exact') - $before, '<', 20, 'a bounded number of requests');

# --- the catalog, and what applications cannot do ------------------------------------------------------

my $types = api($ng, 'GET', '/event-types', undef, key => $ADMIN)->{json};
my @op = grep { $_->{operational} } @{ $types->{event_types} };
is_deeply([sort map { $_->{type} } @op],
          [qw(webhook.delivery.failed webhook.endpoint.disabled webhook.endpoint.enabled webhook.endpoint.failing)],
          'GET /event-types lists the four operational types');
ok(!grep({ !length $_->{description} } @op), 'each with a description');
is_deeply([map { $_->{type} } grep { !$_->{operational} } @{ $types->{event_types} }], ['room.on_air'], 'and the catalog as declared');
is($types->{total}, 5, 'total counts both');

my $res = api($ng, 'POST', '/events', { type => 'webhook.endpoint.disabled', tenant => 't1', data => {} }, key => $ADMIN);
is($res->{status}, 422, 'POST /events with a webhook.* type: 422');
is($res->{json}{error}{code}, 'reserved_event_type', '… reserved_event_type');
like($res->{json}{error}{message}, qr/^type: /, '… naming the field');
$res = api($ng, 'POST', '/webhooks', { url => $recv->url('/x'), events => ['webhook.endpoint.failing'] }, key => $ADMIN);
is($res->{status}, 201, 'with a declared catalog, an operational type is a known filter');

$ng->log_is_clean;

sub conf($http, $location) {
    return <<"CONF";
    webhook_zone zone=wz:1m;
    resolver 127.0.0.1;
    webhook_delivery location=/_webhook;
    $http
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api zone=wz admin_key=k; }
        location /_webhook { internal; proxy_pass \$webhook_url; }
        location /x { $location proxy_pass http://127.0.0.1:%%PORT%%/v1/; }
    }
CONF
}
refused('webhook_event_type of a webhook.* type', conf('webhook_event_type webhook.endpoint.failing;', ''),
        'webhook_event_type',
        'webhook_event_type: "webhook.endpoint.failing": the webhook.* types are the module\'s own (operational events)');
refused('webhook_emit of a webhook.* type', conf('', 'webhook_emit webhook.delivery.failed;'),
        'webhook_emit', 'webhook_emit: "webhook.delivery.failed": the webhook.* types are the module\'s own (operational events)');

done_testing;
