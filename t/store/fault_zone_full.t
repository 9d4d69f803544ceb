# A full zone while a delivery is retrying (README.md#webhook_zone "a full zone ... never
# corrupts", §6 at-least-once): a small zone (128k, memory only) is filled with
# API keys (POST /keys until 507 zone_full) while a delivery to a receiver
# answering 500 (with a 1 KiB excerpt, so each recorded attempt needs more
# room) is between retries. The attempts made while the zone is full cannot be
# recorded; that must be logged, and the delivery must neither be lost nor
# frozen. Then the keys are deleted (space returns) and the receiver answers
# 200: the delivery must complete (succeeded) within the retries left, with
# at most one connection per scheduled attempt, the in-flight gauge back to 0,
# nothing pending, the same workers and no [alert]/[crit].
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-fault-zone-full-2c7e';
my $T0 = time;
my $RETRIES = join ',', '0s', ('2s') x 11;   # 12 attempts, about 24 s of schedule
my $SCHEDULED = 12;

my $recv = DeliveryTest::ScriptedReceiver->start;
$recv->script('/z', [{ status => 500, body => 'e' x 1500 }]);
my $ng = WebhookTest::Nginx->new(vars => { ADMIN => $ADMIN, RETRIES => $RETRIES }, conf => <<'EOF');
    webhook_zone zone=wh:128k;
    webhook_delivery location=/_webhook allow_http=on allow_private=on retries=%%RETRIES%% timeout=2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
        location = /metrics { webhook_status; }
        location /_webhook {
            internal;
            proxy_pass $webhook_url;
            proxy_set_header X-Attempt $webhook_attempt;
        }
    }
EOF
$ng->start;
my @workers = $ng->worker_pids;

sub metrics() { return webhook_metrics($ng) }
sub zone_free() { return metrics()->{'webhook_zone_bytes{zone="wh",state="free"}'} // -1 }

sub detail($wh, $ev) { return delivery_detail($ng, $ADMIN, $wh->{id}, $ev->{id}) }

is(api($ng, 'PUT', '/limits/fill', { max_keys => 100_000 }, key => $ADMIN)->{status}, 200, 'lift the key limit of the fill resource');
my $wh = create_webhook($ng, $ADMIN, url => $recv->url('/z'), events => ['*'], tenant => 'zt', timeout => 1);
my $ev = publish($ng, $ADMIN, type => 'zone.full', tenant => 'zt', data => { n => 1 });
is($ev->{deliveries}, 1, 'one delivery');

# The first attempt is recorded (500) while there is room.
my $d = wait_until(sub {
    my $x = detail($wh, $ev);
    return $x && $x->{attempts} >= 1 ? $x : undef;
}, 10);
ok($d && $d->{status} eq 'pending' && ($d->{attempt_log}[0]{response_status} // 0) == 500,
   'before the fill: attempt 1 recorded (500), the delivery pending a retry');
my $did = $d ? $d->{id} : 'none';

# --- fill the zone --------------------------------------------------------------------------

my $fill_start = time;
my (@keys, $res, $refused);
for my $label_len (200, 120, 60, 20, 0) {
    for (1 .. 5000) {
        $res = api($ng, 'POST', '/keys', { resource => 'fill',
            scopes => ['read'], ($label_len ? (label => 'L' x $label_len) : ()) }, key => $ADMIN);
        last unless $res->{status} == 201;
        push @keys, $res->{json}{id};
    }
    $refused = $res;
    last if zone_free() == 0 && $label_len <= 60;
}
my $fill_time = time - $fill_start;
my $n_keys = @keys;
diag(sprintf 'filled the zone with %d keys in %.1f s; free bytes now %d', $n_keys, $fill_time, zone_free());
is_deeply([$refused->{status}, error_code($refused)], [507, 'zone_full'], 'the fill ends with 507 zone_full');
ok($n_keys > 10, "keys took the zone ($n_keys)");
is(zone_free(), 0, 'no free page left in the zone');
my $mark = $ng->log_mark;

# --- attempts while the zone is full --------------------------------------------------------------

my $before = $recv->count('/z');
my @r = $recv->wait_requests('/z', $before + 1, 6);
ok(@r >= $before + 1, 'the delivery is still attempted while the zone is full');
sleep 1.5;   # the attempt (500 at once) has reported by now
my @full_lines = grep { /\[(?:error|warn|crit|alert)\]/ && /full/i && /\Q$did\E/ } split /\n/, $ng->log_since($mark);
ok(@full_lines >= 1, 'an attempt that cannot be recorded in the full zone is logged, naming the delivery')
    or diag("log since the fill:\n" . join("\n", grep { /\Q$did\E|full/ } split /\n/, $ng->log_since($mark)));
my $during = detail($wh, $ev);
ok($during, 'GET /deliveries/{id} answers while the zone is full');
is($during->{status}, 'pending', 'the delivery is still pending (not lost, not failed) while the zone is full')
    if $during;
my $mf = metrics();
ok(($during->{status} // '') ne 'pending' || ($mf->{'webhook_queue_depth{zone="wh"}'} // 0) >= 1,
   'while full, the pending delivery is still queued or in flight (webhook_queue_depth '
   . ($mf->{'webhook_queue_depth{zone="wh"}'} // '?') . ', in flight ' . ($mf->{'webhook_in_flight{zone="wh"}'} // '?') . ')');
diag(sprintf 'while full: status %s, attempts %s, attempt_log %d, in flight %s, receiver requests %d',
             $during->{status} // '?', $during->{attempts} // '?', scalar @{ $during->{attempt_log} // [] },
             metrics()->{'webhook_in_flight{zone="wh"}'} // '?', $recv->count('/z'));

# --- space returns ------------------------------------------------------------------------------------

my $deleted = grep { api($ng, 'DELETE', "/keys/$_", undef, key => $ADMIN)->{status} == 204 } @keys;
is($deleted, $n_keys, "all $n_keys fill keys deleted");
ok(zone_free() > 0, 'the zone has free pages again (' . zone_free() . ' bytes)');
$recv->script('/z', [{ status => 200 }]);
my $t_free = time;

my $final = wait_delivery($ng, $ADMIN, $wh->{id}, $ev->{id}, status => 'succeeded', timeout => 15) // {};
is($final->{status}, 'succeeded', sprintf('after space returns, the delivery completes (succeeded) within 15 s (%s)',
                                          $final->{status} // 'no answer'))
    or diag(sprintf 'stuck: attempts %s, next_attempt_at %s, in flight %s, queue depth %s, receiver requests %d (%d since freed)',
                    $final->{attempts} // '?', $final->{next_attempt_at} // 'null', metrics()->{'webhook_in_flight{zone="wh"}'} // '?',
                    metrics()->{'webhook_queue_depth{zone="wh"}'} // '?', $recv->count('/z'),
                    scalar(grep { $_->{time} >= $t_free } $recv->requests('/z')));
my @log = @{ $final->{attempt_log} // [] };
is($final->{response_status}, 200, 'response_status of the last attempt: 200');
is(@log ? $log[-1]{response_status} : undef, 200, 'the last attempt_log entry is the 200');
ok(!defined $final->{next_attempt_at}, 'no next_attempt_at once succeeded');

# One connection per attempt: never more connections than the schedule has
# attempts, and never fewer than the attempts recorded.
my @all = $recv->requests('/z');
ok(@all <= $SCHEDULED, sprintf('at most one connection per scheduled attempt (%d connections, %d scheduled)', scalar @all, $SCHEDULED));
ok(@all >= ($final->{attempts} // 0), sprintf('at least one connection per recorded attempt (%d connections, %d attempts)',
                                             scalar @all, $final->{attempts} // 0));
my %per_attempt;
$per_attempt{ $_->{headers}{'x-attempt'} // '?' }++ for @all;
my @twice = grep { $per_attempt{$_} > 1 } sort keys %per_attempt;
ok(!@twice, 'no attempt number used by two connections') or diag("attempt numbers used twice: @twice");

# --- afterwards -----------------------------------------------------------------------------------------

my $m = metrics();
is($m->{'webhook_in_flight{zone="wh"}'}, 0, 'webhook_in_flight is back to 0');
is($m->{'webhook_queue_depth{zone="wh"}'}, 0, 'webhook_queue_depth is 0');
$res = api($ng, 'POST', '/keys', { resource => 'fill', scopes => ['read'] }, key => $ADMIN);
is($res->{status}, 201, 'POST /keys works again');
my $ev2 = publish($ng, $ADMIN, type => 'zone.full', tenant => 'zt', data => { n => 2 });
is((wait_delivery($ng, $ADMIN, $wh->{id}, $ev2->{id}, timeout => 10) // {})->{status}, 'succeeded',
   'a new event to the same endpoint is delivered');
is_deeply([$ng->worker_pids], \@workers, 'the workers did not crash (same pids)');
$ng->log_is_clean;
my @internal = grep { /internal error|bad_alloc/ } split /\n/, $ng->error_log;
ok(!@internal, 'no "internal error" in error.log') or diag(join "\n", @internal[0 .. ($#internal < 4 ? $#internal : 4)]);
diag(sprintf 'fault_zone_full.t took %.0f s', time - $T0);

done_testing;
