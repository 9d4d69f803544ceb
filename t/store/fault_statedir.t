# A state directory the worker processes cannot write (docs/directives.md#webhook_zone): reported at
# start with an [emerg] naming the worker user and the path — not at the first
# API call — and never an acknowledged mutation that is not on disk. Needs
# root (the master runs as root, the workers as nobody, NGINX's default).
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use KeysTest qw(:all);

plan skip_all => 'needs root: the workers must run as another user than the master' if $> != 0;
my ($user) = getpwnam('nobody') ? ('nobody') : ();
plan skip_all => 'no user nobody' unless $user;

my $ADMIN = 'admin-key-fault-statedir-2b8d40';
my %conf = (admin => $ADMIN, size => '1m', state => '%%STATE%%');

# Starts nginx without nginx -t: (exit, output, running).
sub try_start($ng) {
    my ($exit, $out) = start_output($ng);
    my $up = $exit == 0 && wait_for(sub { $ng->is_running && wait_for_port($ng->port, 0.2) }, 5);
    return ($exit, $out, $up);
}

# --- 1. DIR under a directory only root may enter --------------------------------------
{
    my $ng = api_nginx(%conf, vars => { STATE => 'PLACEHOLDER' });
    my $private = $ng->prefix . '/private';
    mkdir $private, 0700 or die "mkdir: $!";
    chmod 0700, $private;
    my $state = "$private/state";
    $ng->write_conf(vars => { STATE => $state });
    my ($exit, $out, $up) = try_start($ng);
    my $all = $out . "\n" . $ng->error_log;
    my @emerg = grep { /\[emerg\]/ && /\Q$user\E/ && /\Q$private\E/ } split /\n/, $all;
    ok(@emerg, 'unreachable DIR: an [emerg] at start names the worker user and the path')
        or diag("exit $exit; log:\n" . join "\n", grep { /\[(?:emerg|alert|crit|error)\]/ } split /\n/, $all);
    ok(!$up, 'unreachable DIR: nginx does not run with a state it cannot write');
    if ($up) {
        my $res = api($ng, 'POST', '/keys', { resource => 'r:1', scopes => ['read'] }, key => $ADMIN);
        isnt($res->{status}, 201, "unreachable DIR: POST /keys is not acknowledged (got $res->{status})");
        $ng->stop;
    }
}

# --- 2. DIR exists, owned by root, mode 0700: not the module's to give away --------------
# (state=/tmp or a home directory by mistake must keep its owner): nginx does
# not start and says what to run; after that chown it starts.
{
    my $ng = api_nginx(%conf, vars => { STATE => 'PLACEHOLDER' });
    my $state = $ng->prefix . '/state';
    mkdir $state, 0700 or die "mkdir: $!";
    chmod 0700, $state;
    $ng->write_conf(vars => { STATE => $state });
    my ($exit, $out, $up) = try_start($ng);
    my $all = $out . "\n" . $ng->error_log;
    ok(!$up, 'root-owned DIR: nginx does not start');
    ok((grep { /\[emerg\]/ && /\(chown \Q$user $state\E\)/ } split /\n/, $all),
       'root-owned DIR: the [emerg] says which chown to run') or diag($all);
    my @st = stat $state;
    is(sprintf('%d %04o', $st[4], $st[2] & 07777), '0 0700', 'root-owned DIR: keeps its owner and mode');
    $ng->stop if $up;

    chown scalar(getpwnam($user)), -1, $state or die "chown: $!";
    my $mark = $ng->log_mark;
    ($exit, $out, $up) = try_start($ng);
    ok($up, "DIR given to $user: nginx starts") or diag($out);
    SKIP: {
        skip 'nginx did not start', 3 unless $up;
        my $res = api($ng, 'POST', '/keys', { resource => 'r:1', scopes => ['read'] }, key => $ADMIN);
        is($res->{status}, 201, "DIR given to $user: POST /keys acknowledged");
        $ng->kill9;
        $ng->start;
        is(api($ng, 'GET', '/keys?resource=r:1', undef, key => $ADMIN)->{json}{total}, 1, "DIR given to $user: the key survives kill -9");
        my @bad = grep { /\[(?:alert|emerg|crit)\]/ } split /\n/, $ng->log_since($mark);
        ok(!@bad, "DIR given to $user: no [alert]/[emerg]/[crit] after it was given") or diag(join "\n", @bad);
        $ng->stop;
    }
}

done_testing;
