# webhook_status (README.md#webhook_status): Prometheus text with verifications by result, key
# checks by result, events published, attempts by outcome, queue gauges, the
# attempt latency histogram and zone bytes — each moving with real traffic.
use v5.36;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-status-5d21';
my $SECRET = 'status-secret';
my $backend = WebhookTest::Backend->start;
my $ng = delivery_nginx(admin => $ADMIN, vars => { BACKEND => $backend->port }, locations => <<"LOC");
        location = /metrics { webhook_status; }
        location /hook { webhook_verify github secret=$SECRET; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /read { api_key_auth read; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /rw { api_key_auth readwrite; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /acme { api_key_auth read resource=org:acme; proxy_pass http://127.0.0.1:%%BACKEND%%; }
        location /sink { return 204; }
LOC
$ng->start;

sub metrics() {
    my $res = http_request('GET', $ng->url('/metrics'));
    is($res->{status}, 200, 'GET /metrics: 200') or return {};
    like($res->{headers}{'content-type'} // '', qr{^text/plain}, 'Prometheus text format');
    return parse_metrics($res->{content});
}

my $before = metrics();
is($before->{'webhook_verifications_total{zone="wh",result="ok"}'}, 0, 'no verification yet');
ok($before->{'webhook_zone_bytes{zone="wh",state="free"}'} > 0, 'zone bytes free reported');

my $body = '{"ping":1}';
http_post($ng->url('/hook'), $body, { 'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, $SECRET) }) for 1 .. 3;
http_post($ng->url('/hook'), $body, { 'X-Hub-Signature-256' => 'sha256=' . ('0' x 64) }) for 1 .. 2;
http_post($ng->url('/hook'), $body, {});

my $key = create_key($ng, $ADMIN, resource => 'r', scopes => ['read']);
http_request('GET', $ng->url('/read'), { Authorization => "Bearer $key->{key}" }) for 1 .. 4;
http_request('GET', $ng->url('/read'), { Authorization => 'Bearer sk_not_a_real_key_at_all' });
http_request('GET', $ng->url('/read')) for 1 .. 2;
http_request('GET', $ng->url('/rw'), { Authorization => "Bearer $key->{key}" }) for 1 .. 3;
http_request('GET', $ng->url('/acme'), { Authorization => "Bearer $key->{key}" });

my $wh = create_webhook($ng, $ADMIN, url => $ng->url('/sink'), events => ['*'], tenant => 't');
my @ev = map { publish($ng, $ADMIN, type => 'room.on_air', tenant => 't', data => { n => $_ }) } 1 .. 5;
wait_delivery($ng, $ADMIN, $wh->{id}, $_->{id}) for @ev;

my $m = metrics();
is($m->{'webhook_verifications_total{zone="wh",result="ok"}'}, 3, 'verifications ok: 3');
is($m->{'webhook_verifications_total{zone="wh",result="bad_signature"}'}, 2, 'verifications bad_signature: 2');
is($m->{'webhook_verifications_total{zone="wh",result="missing_signature"}'}, 1, 'verifications missing_signature: 1');
is($m->{'webhook_key_checks_total{zone="wh",result="ok"}'}, 4, 'key checks ok: 4');
# Key checks by result code, as verifications are.
is($m->{'webhook_key_checks_total{zone="wh",result="invalid_api_key"}'}, 1, 'key checks invalid_api_key: 1');
is($m->{'webhook_key_checks_total{zone="wh",result="missing_api_key"}'}, 2, 'key checks missing_api_key: 2');
is($m->{'webhook_key_checks_total{zone="wh",result="insufficient_scope"}'}, 3, 'key checks insufficient_scope: 3');
is($m->{'webhook_key_checks_total{zone="wh",result="forbidden_resource"}'}, 1, 'key checks forbidden_resource: 1');
ok(!exists $m->{'webhook_key_checks_total{zone="wh",result="refused"}'}, 'no lump "refused" result');
is($m->{'webhook_events_published_total{zone="wh"}'}, 5, 'events published: 5');
is($m->{'webhook_attempts_total{zone="wh",outcome="succeeded"}'}, 5, 'attempts succeeded: 5');
is($m->{'webhook_attempts_total{zone="wh",outcome="failed"}'}, 0, 'attempts failed: 0');
is($m->{'webhook_queue_depth{zone="wh"}'}, 0, 'queue empty');
is($m->{'webhook_attempt_duration_seconds_count{zone="wh"}'}, 5, 'latency histogram counted 5 attempts');
is($m->{'webhook_attempt_duration_seconds_bucket{zone="wh",le="+Inf"}'}, 5, 'the +Inf bucket holds them all');
is($m->{'webhook_keys{zone="wh"}'}, 1, 'keys stored: 1');
cmp_ok($m->{'webhook_zone_bytes{zone="wh",state="used"}'}, '>', $before->{'webhook_zone_bytes{zone="wh",state="used"}'},
       'zone bytes used grew');
is(http_request('POST', $ng->url('/metrics'))->{status}, 405, 'POST /metrics: 405');

ok($ng->log_is_clean, 'no [alert], [emerg] or [crit]');
$ng->stop;
done_testing;
