# webhook_console in a real browser (docs/console.md): headless Chromium
# (Debian's `chromium`) driven by puppeteer-core (t/npm) through
# t/console/browser.mjs, against a real nginx with the module and a scripted
# receiver (one path that answers 200, two that fail for a while then recover).
# Every flow of the console is run and checked through the API as well; the
# receiver's requests are checked here afterwards against the secrets and
# public keys the page showed. Screenshots of every screen, desktop and 375 px wide, go to
# $WEBHOOK_ARTIFACTS/console/ (default t/artifacts/console/, not in git).
#
# Without chromium or puppeteer-core the test skips, unless
# WEBHOOK_REQUIRE_BROWSER is set (make integration sets it): then it fails.
use v5.36;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp ();
use WebhookTest qw(:all);
use KeysTest qw(:all);
use DeliveryTest qw(:all);

my $here = dirname(abs_path(__FILE__));
my $chromium = $ENV{WEBHOOK_CHROMIUM} // '/usr/bin/chromium';
my $npm = npm_dir();
my @missing = ((-x $chromium ? () : "no chromium at $chromium (apt install chromium)"),
               (-d "$npm/node_modules/puppeteer-core" ? () : 'no puppeteer-core in t/npm (npm ci in t/npm)'));
if (@missing) {
    my $why = join '; ', @missing;
    if ($ENV{WEBHOOK_REQUIRE_BROWSER}) {
        fail("the browser test must run (WEBHOOK_REQUIRE_BROWSER is set): $why");
        done_testing;
        exit;
    }
    plan skip_all => "$why; set WEBHOOK_REQUIRE_BROWSER=1 to make this a failure";
}

my $artifacts = abs_path(File::Spec->catdir($ENV{WEBHOOK_ARTIFACTS} // File::Spec->catdir($here, '..', 'artifacts'))) . '/console';
make_path($artifacts);
unlink glob "$artifacts/*.png";

my $ADMIN = 'admin-key-console-browser-9b3e';
my $recv = DeliveryTest::ScriptedReceiver->start;
my $down = { status => 500, body => '{"error":"receiver down for maintenance <img src=x onerror=alert(1)>"}' };
$recv->script('/flaky', [$down, $down, { status => 200 }]);
# The endpoint that recovers: two test events fail both their attempts, then it is back.
$recv->script('/down', [$down, $down, $down, $down, { status => 200 }]);
$recv->script('/down2', [$down, $down, $down, $down, { status => 200 }]);

my $ng = delivery_nginx(admin => $ADMIN, retries => '0s,1s',
    types => ['webhook_event_type room.on_air "Room goes on air";',
              'webhook_event_type room.off_air "Room goes off air";',
              'webhook_event_type ticket.sold "A ticket was sold";'],
    locations => "        location /console/ { webhook_console api=/v1/; }\n");
$ng->start;

my $results = File::Temp->new(TEMPLATE => 'consoleXXXXXX', SUFFIX => '.json', TMPDIR => 1);
my $run = WebhookTest::_capture({
    WEBHOOK_NPM_DIR  => $npm,
    CHROMIUM         => $chromium,
    CONSOLE_URL      => $ng->url('/console/'),
    API_URL          => $ng->url('/v1/'),
    ADMIN_KEY        => $ADMIN,
    RECEIVER_URL     => $recv->url(''),
    ARTIFACTS_DIR    => $artifacts,
    RESULTS_FILE     => $results->filename,
}, 'node', "$here/browser.mjs");

# One JSON line per check: {"ok":…, "name":…, "diag":…}.
binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);
my $checks = 0;
for my $line (split /\n/, $run->{stdout}) {
    my $c = json_decode($line);
    unless (ref $c eq 'HASH' && exists $c->{name}) { note $line; next }
    $checks++;
    ok($c->{ok}, $c->{name}) or diag($c->{diag} // '');
}
cmp_ok($checks, '>=', 100, "browser.mjs ran every flow ($checks checks)");
is($run->{exit}, 0, 'browser.mjs finished') or diag $run->{output};

# --- what the receiver got, against the secrets the page showed ---------------------------

my $r = json_decode(read_file($results->filename) // '') // {};
my @ok = $recv->requests('/ok');
ok(@ok >= 2, 'the receiver got the endpoint\'s deliveries');
my ($first) = grep { ($_->{json}{type} // '') eq 'webhook.test' } @ok;
ok($first && standard_verify($r->{created_secret} // '', $first),
   'the secret shown once at creation (and copied with the button) signs the deliveries');
my $last = $ok[-1];
is($last->{json}{type}, 'webhook.test', 'the last delivery is the test sent after the rotation');
ok(standard_verify($r->{rotated_secret} // '', $last), 'the rotated secret shown once signs the next delivery');
ok(standard_verify($r->{created_secret} // '', $last), 'the previous secret signs beside it (24 h overlap)');
my @flaky = ($recv->requests('/flaky'))[0 .. 2];
is_deeply([map { [$_->{json}{type}, $_->{answered}] } grep { defined } @flaky],
          [['webhook.test', 500], ['webhook.test', 500], ['webhook.test', 200]],
          'the failing receiver: two failed attempts of the test event, then the replay');

# The Ed25519 endpoint: the key shown at creation, then after the rotation both keys,
# then after the switch to HMAC the secret shown once beside the last key.
my @ed = $recv->requests('/ed');
is(scalar @ed, 3, 'the Ed25519 endpoint got its three test events');
my $all = { node => 1, noble => 1, tweetnacl => 1 };
is_deeply([ed25519_verify($r->{ed_public_key} // '', $ed[0])], [$all],
          'the public key shown at creation verifies the delivery (Node crypto, noble, tweetnacl)') if @ed;
is_deeply([ed25519_verify($r->{ed_rotated_key} // '', $ed[1]), ed25519_verify($r->{ed_public_key} // '', $ed[1])],
          [$all, $all], 'after the rotation: the new key shown, and the previous one beside it') if @ed > 1;
if (@ed > 2) {
    ok(standard_verify($r->{ed_switched_secret} // '', $ed[2]), 'after the switch to HMAC: the secret shown once signs');
    is_deeply([ed25519_verify($r->{ed_rotated_key} // '', $ed[2])], [$all], 'and the last public key signs beside it');
}
is_deeply([map { $_->{answered} } $recv->requests('/down')], [500, 500, 500, 500, 200, 200],
          'the recovering receiver: two deliveries failed twice each, then both recovered');

my @shots = glob "$artifacts/*.png";
cmp_ok(scalar @shots, '>=', 30, 'screenshots kept: ' . scalar(@shots) . " in $artifacts");
for my $key ($ADMIN, grep { defined } @{$r}{qw(created_secret rotated_secret tenant_key ed_switched_secret)}) {
    $ng->log_lacks($key, 'no key or secret in the logs');
}
$ng->log_is_clean;

done_testing;
