# Receivers that answer garbage (README.md#the-delivery-model outcomes, §8 limits on network
# input): every attempt ends (within the endpoint's timeout where the receiver
# stalls: one deadline for the whole exchange, headers and body), is recorded
# in GET /deliveries/{id} with a status or an error, is retried by retries=,
# and uses exactly one upstream connection; nothing stays pending with no
# attempt in flight, the in-flight gauge returns to 0, the workers do not
# crash and log no [alert]/[crit]; a restart from state= replays every
# recorded outcome as it was (nothing final is sent again).
#
# Receivers (DeliveryTest::GarbageReceiver), one endpoint each, all at once:
#   xff        200 with the single byte "\xff" as body
#   utf8cut    200, a UTF-8 "é" cut by the 1 KiB response excerpt
#   big        200 with a 100 MiB body
#   chunked    200, a chunked body that never ends            (timeout 1)
#   slowhdr    a status line, then one header byte a second    (timeout 2)
#   trickle    200, Content-Length: 1000000, one byte every 5 s (timeout 1);
#              watched for ~40 s: longer than timeout + the 30 s lease slack,
#              so a lease that expires under a live attempt shows up as a
#              second connection for one attempt
#   badstatus  a garbage status line
#   badheader  a header with NUL / control / 0xff bytes
#   nul        500 with a NUL byte in the body (kept in the excerpt)
#   ragarb, rahuge, raneg   429/503 with a garbage Retry-After, then 200
use v5.36;
use Test::More;
use Time::HiRes qw(sleep time);
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $ADMIN = 'admin-key-fault-receiver-8b3f';
my $T0 = time;

my $g = DeliveryTest::GarbageReceiver->start;
my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s,2s', timeout => '2s', state => 1,
                        locations => "        location = /metrics { webhook_status; }\n");
$ng->start;
my @workers = $ng->worker_pids;

sub metrics() { return webhook_metrics($ng) }

# expect: final status; attempts: final attempts; error: error of every attempt;
# stall: the attempt must be cut at the endpoint timeout.
my %case = (
    xff       => { timeout => 5,  expect => 'succeeded', attempts => 1 },
    utf8cut   => { timeout => 5,  expect => 'succeeded', attempts => 1 },
    big       => { timeout => 20 },
    chunked   => { timeout => 1,  expect => 'failed', attempts => 3, error => 'timeout', stall => 1 },
    slowhdr   => { timeout => 2,  expect => 'failed', attempts => 3, error => 'timeout', stall => 1 },
    trickle   => { timeout => 1,  expect => 'failed', attempts => 3, error => 'timeout', stall => 1 },
    badstatus => { timeout => 2,  expect => 'failed', attempts => 3 },
    badheader => { timeout => 2,  expect => 'failed', attempts => 3 },
    nul       => { timeout => 2,  expect => 'failed', attempts => 3 },
    ragarb    => { timeout => 2,  expect => 'succeeded', attempts => 2, first => 503 },
    rahuge    => { timeout => 2,  expect => 'succeeded', attempts => 2, first => 429 },
    raneg     => { timeout => 2,  expect => 'succeeded', attempts => 2, first => 503 },
);
my @names = sort keys %case;

my (%wh, %ev);
for my $name (@names) {
    $wh{$name} = create_webhook($ng, $ADMIN, url => $g->url("/$name"), events => ['*'], tenant => "t-$name",
                                timeout => $case{$name}{timeout});
}
for my $name (@names) {
    $ev{$name} = publish($ng, $ADMIN, type => 'fault.test', tenant => "t-$name", data => { case => $name });
    is($ev{$name}{deliveries}, 1, "$name: one delivery");
}

# GET /deliveries/{id} of a case (undef until listed).
sub detail($name) { return delivery_detail($ng, $ADMIN, $wh{$name}{id}, $ev{$name}{id}) }

# Every case final, or 30 s.
my %final;
wait_until(sub {
    for my $name (@names) {
        next if $final{$name};
        my $d = detail($name) or next;
        $final{$name} = $d if $d->{status} ne 'pending';
    }
    return keys(%final) == @names;
}, 30);
for my $name (@names) {
    next if $final{$name};
    my $d = detail($name) // {};
    my $in_flight = metrics()->{'webhook_in_flight{zone="wh"}'} // '?';
    fail("$name: the delivery is final within 30 s");
    diag("$name: still $d->{status}, attempts " . ($d->{attempts} // '?') . ', attempt_log '
         . scalar(@{ $d->{attempt_log} // [] }) . ", receiver connections " . $g->connections("/$name")
         . ", webhook_in_flight $in_flight");
    $final{$name} = $d;
}

# --- per case ---------------------------------------------------------------------------------

for my $name (@names) {
    my $c = $case{$name};
    my $d = $final{$name};
    my @log = @{ $d->{attempt_log} // [] };
    my @conns = $g->records("/$name");
    my $limit_ms = $c->{timeout} * 1000 + 1500;

    is($d->{status}, $c->{expect}, "$name: delivery $c->{expect}") if $c->{expect};
    isnt($d->{status} // 'pending', 'pending', "$name: the delivery is not left pending") unless $c->{expect};
    is($d->{attempts}, $c->{attempts}, "$name: attempts $c->{attempts}") if $c->{attempts};
    ok(($d->{attempts} // 0) >= 1, "$name: at least one attempt recorded");
    is(scalar @log, $d->{attempts} // 0, "$name: one attempt_log entry per attempt");
    ok(!grep({ !defined $_->{response_status} && !(defined $_->{error} && length $_->{error}) } @log),
       "$name: each attempt is recorded with a response_status or an error");
    ok(!grep({ ($_->{response_time_ms} // 1e9) > $limit_ms } @log),
       "$name: each attempt ended within its timeout ($c->{timeout} s) + 1.5 s")
        or diag("$name: response_time_ms " . join(', ', map { $_->{response_time_ms} // 'undef' } @log));
    ok(!grep({ length($_->{response} // '') > 1100 } @log), "$name: the response excerpt is bounded (1 KiB)");

    # One connection per attempt, each with its own attempt number.
    is(scalar @conns, $d->{attempts} // 0, "$name: one receiver connection per attempt")
        or diag("$name: connections at " . join(', ', map { sprintf '%.1fs (attempt %s)', $_->{accepted} - $T0, $_->{attempt} // '?' } @conns));
    is_deeply([map { $_->{attempt} } @conns], [map { "$_" } 1 .. scalar @conns],
              "$name: the connections carry attempt numbers 1..n, none twice");

    if ($c->{error}) {
        is_deeply([map { $_->{error} } @log], [($c->{error}) x @log], "$name: every attempt's error is $c->{error}");
        is($d->{error}, $c->{error}, "$name: the delivery's error is $c->{error}");
    }
    if ($c->{stall}) {
        # From the receiver's side: NGINX let go of each connection at about the timeout.
        my @held = map { defined $_->{closed} ? $_->{closed} - $_->{accepted} : 999 } @conns;
        ok(@held && !grep({ $_ > $c->{timeout} + 1.5 } @held),
           "$name: NGINX closed each connection within the $c->{timeout} s timeout + 1.5 s")
            or diag("$name: connections held " . join(', ', map { sprintf '%.1fs', $_ } @held));
    }
}

# --- what each garbage answer must record ---------------------------------------------------

{
    my $d = $final{xff};
    is($d->{response_status}, 200, 'xff: response_status 200');
    my $ex = $d->{attempt_log}[0]{response};
    ok(defined $ex && length($ex) <= 4, 'xff: the one-byte body is recorded as a (replaced or escaped) excerpt')
        or diag('xff: excerpt ' . (defined $ex ? "'$ex'" : 'undef'));
}
{
    my $d = $final{utf8cut};
    is($d->{response_status}, 200, 'utf8cut: response_status 200');
    my $ex = $d->{attempt_log}[0]{response} // '';
    is(substr($ex, 0, 1023), 'a' x 1023, 'utf8cut: the excerpt keeps the 1023 bytes before the cut character');
    ok(length $ex <= 1025, 'utf8cut: and stops at the 1 KiB boundary (' . length($ex) . ' characters)');
    unlike($ex, qr/z/, 'utf8cut: nothing past the boundary');
}
{
    my $d = $final{big};
    is($d->{attempt_log}[0]{response_status}, 200, 'big: the 200 of the 100 MiB answer is recorded');
    ok($d->{status} eq 'succeeded' || ($d->{error} // '') ne '', "big: succeeded, or failed with an error ($d->{status})");
    diag('big: 100 MiB answer took ' . ($d->{attempt_log}[0]{response_time_ms} // '?') . ' ms');
}
for my $name (qw(badstatus badheader)) {
    my $d = $final{$name};
    ok(!grep({ ($_->{response_status} // 0) >= 200 && ($_->{response_status} // 0) <= 299 } @{ $d->{attempt_log} // [] }),
       "$name: a garbage answer is never taken for a 2xx");
    ok(defined $d->{error} && length $d->{error}, "$name: the delivery carries an error (" . ($d->{error} // 'undef') . ')');
}
{
    my $d = $final{nul};
    is_deeply([map { $_->{response_status} } @{ $d->{attempt_log} // [] }], [500, 500, 500],
              'nul: attempt_log keeps the three 500s (a NUL in the excerpt loses no history)');
    like($d->{attempt_log}[0]{response} // '', qr/^receiver/, 'nul: the excerpt is kept');
}
for my $name (qw(ragarb rahuge raneg)) {
    my $d = $final{$name};
    is_deeply([map { $_->{response_status} } @{ $d->{attempt_log} // [] }], [$case{$name}{first}, 200],
              "$name: $case{$name}{first} then 200");
    my @c = $g->records("/$name");
    my $gap = @c >= 2 ? $c[1]{accepted} - $c[0]{closed} : undef;
    ok(defined $gap && $gap >= 0.6 && $gap <= 2.6,
       sprintf('%s: a garbage Retry-After falls back to the scheduled 1 s (clamped to at most 2 s): %s', $name,
               defined $gap ? sprintf('%.2fs', $gap) : 'no retry'));
}

# --- the lease never expires under a live attempt -----------------------------------------------

# The trickling receiver would keep one attempt alive for days. Watch past the
# lease (endpoint timeout 1 s + 30 s slack) from the first connection: a
# second connection for the same attempt would show up by then.
my @tr = $g->records('/trickle');
my $watch_until = (@tr ? $tr[0]{accepted} : time) + 38;
while (time < $watch_until) {
    sleep 1;
}
my $trd = detail('trickle') // {};
@tr = $g->records('/trickle');
is(scalar @tr, $trd->{attempts} // -1, 'trickle: after 38 s, still one connection per attempt (' . scalar(@tr) . ' connections, '
   . ($trd->{attempts} // '?') . ' attempts)');
ok(scalar @tr <= 3, 'trickle: no more connections than retries= has attempts (3)');
my @ch = $g->records('/chunked');
is(scalar @ch, (detail('chunked') // {})->{attempts} // -1, 'chunked: after 38 s, still one connection per attempt');

# --- the whole -------------------------------------------------------------------------------------

my $m = metrics();
is($m->{'webhook_in_flight{zone="wh"}'}, 0, 'webhook_in_flight is back to 0');
is($m->{'webhook_queue_depth{zone="wh"}'}, 0, 'webhook_queue_depth is 0 (nothing left pending)');
my $read = grep { defined $_->{path} } $g->records;
is($g->accepted, $read, 'every connection NGINX opened carried a request (no stray connection)');
is_deeply([$ng->worker_pids], \@workers, 'the workers did not crash (same pids)');

# --- a restart from state= keeps every recorded outcome -------------------------------------------

# The journal holds each attempt as recorded: replaying it must give the same
# status and attempts, and re-send nothing already final.
my @done = grep { ($final{$_}{status} // 'pending') ne 'pending' } @names;
my %before = map { $_ => [$final{$_}{status}, $final{$_}{attempts}, $g->connections("/$_")] } @done;
$ng->restart;
sleep 4;
for my $name (@done) {
    my $d = detail($name) // {};
    is_deeply([$d->{status}, $d->{attempts}, $g->connections("/$name")], $before{$name},
              "$name: after a restart from state=, the same status and attempts, and nothing sent again")
        or diag("$name: before [@{ $before{$name} }], after [" . join(' ', map { $_ // 'undef' } $d->{status}, $d->{attempts},
                $g->connections("/$name")) . ']');
}
$ng->log_is_clean;
my @internal = grep { /internal error|bad_alloc/ } split /\n/, $ng->error_log;
ok(!@internal, 'no "internal error" in error.log') or diag(join "\n", @internal[0 .. ($#internal < 4 ? $#internal : 4)]);
diag(sprintf 'fault_receiver.t took %.0f s', time - $T0);

done_testing;
