package PgTest;

# A private PostgreSQL server for the integration tests, from Debian's
# packages (apt install postgresql: /usr/lib/postgresql/15/bin, or the newest
# version there). Perl 5.36 core modules only.
#
#   use PgTest;
#   my $pg = PgTest->start;                 # initdb + pg_ctl start + createdb, ~1-2 s
#   my $ng = WebhookTest::Nginx->new(conf => ..., vars => { PG => $pg->uri });
#   is($pg->psql('select count(*) from deliveries'), '3');
#   $pg->stop;                              # the store goes down ...
#   $pg->start_again;                       # ... and comes back (same port, same data)
#   $pg->kill9;                             # or crashes (postmaster and backends, SIGKILL)
#
# The cluster lives in a fresh temp dir: DIR/data (initdb -A trust -U webhook,
# no fsync), the server log DIR/postgresql.log, the Unix socket in DIR. It
# listens on 127.0.0.1:PORT, PORT from WebhookTest::free_port (so
# WEBHOOK_TEST_PORTS is honoured). Clients connect over TCP as the superuser
# `webhook`, without a password: uri() is postgresql://webhook@127.0.0.1:PORT/DB.
#
# initdb and the server refuse to run as root: as root, initdb and pg_ctl run
# as the `postgres` user (created by the postgresql package) through runuser,
# and DIR is handed to it.
#
# The server is stopped and DIR removed when the test exits (WebhookTest's
# END cleanup; a die in the test too). WEBHOOK_TEST_KEEP=1 keeps DIR.
#
# Without the PostgreSQL binaries start() skips the whole test (plan
# skip_all), unless WEBHOOK_REQUIRE_PG is set: then it dies.

use v5.36;
use Carp qw(croak);
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use POSIX ();
use Test::More ();
use Time::HiRes qw(sleep time);
use WebhookTest ();

my $PGROOT = '/usr/lib/postgresql';

# The bin dir of the server (15, else the newest version installed), or undef.
sub bindir() {
    return "$PGROOT/15/bin" if -x "$PGROOT/15/bin/initdb";
    opendir my $d, $PGROOT or return undef;
    my @v = sort { $b <=> $a } grep { /^\d+$/ && -x "$PGROOT/$_/bin/initdb" && -x "$PGROOT/$_/bin/pg_ctl" } readdir $d;
    closedir $d;
    return @v ? "$PGROOT/$v[0]/bin" : undef;
}

# Why a cluster cannot be started here (undef when it can).
sub _unavailable() {
    my $bin = bindir() // return "no PostgreSQL server binaries in $PGROOT/*/bin (apt install postgresql)";
    for (qw(initdb pg_ctl psql createdb)) {
        return "$bin/$_ is missing (apt install postgresql)" unless -x "$bin/$_";
    }
    if ($> == 0) {
        return 'running as root and there is no `postgres` user to run the server as (apt install postgresql creates it)'
            unless defined getpwnam('postgres');
        return 'running as root and runuser (util-linux) is missing' unless _runuser();
    }
    return undef;
}

sub available() { return !defined _unavailable() }

sub _runuser() {
    for (qw(/usr/sbin/runuser /sbin/runuser /usr/bin/runuser)) { return $_ if -x $_ }
    return undef;
}

sub start($class, %o) {
    if (defined(my $why = _unavailable())) {
        croak "PostgreSQL is required (WEBHOOK_REQUIRE_PG is set): $why" if $ENV{WEBHOOK_REQUIRE_PG};
        Test::More::plan(skip_all => "$why; set WEBHOOK_REQUIRE_PG=1 to make this a failure");
    }
    my $self = bless { bin => bindir(), db => $o{db} // 'webhook', user => 'webhook', conf => $o{conf} // {} }, $class;
    $self->{dir} = _temp_dir();
    WebhookTest::_register($self);
    $self->{data} = "$self->{dir}/data";
    $self->{logfile} = "$self->{dir}/postgresql.log";
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres');
        chown $uid, $gid, $self->{dir} or croak "chown postgres $self->{dir}: $!";
        $self->{as_postgres} = 1;
    }
    my $r = $self->_run_server('initdb', '-D', $self->{data}, '-A', 'trust', '-U', $self->{user},
                               '--no-sync', '-E', 'UTF8', '--locale=C', '--no-instructions');
    croak "initdb failed:\n$r->{output}" if $r->{exit} != 0;
    # The port is free when picked, but another process may take it before the
    # server binds it: then try another one.
    for my $try (1 .. 5) {
        $self->{port} = WebhookTest::free_port();
        last if $self->_pg_ctl_start;
        croak "pg_ctl start failed:\n$self->{start_output}\n--- server log ---\n" . $self->log
            if $try == 5 || $self->log !~ /could not (?:bind|create listen socket)|Address already in use/;
        $self->_truncate_log;
    }
    $r = $self->_run_client('createdb', @{ $self->_conn_args }, '--maintenance-db=postgres', $self->{db});
    croak "createdb $self->{db} failed:\n$r->{output}" if $r->{exit} != 0;
    return $self;
}

sub port($self) { return $self->{port} }
sub db($self)   { return $self->{db} }
sub dir($self)  { return $self->{dir} }
sub uri($self)  { return "postgresql://$self->{user}\@127.0.0.1:$self->{port}/$self->{db}" }

# The server log so far ('' when none).
sub log($self) { return WebhookTest::read_file($self->{logfile}) // '' }

# The postmaster's pid, when one runs (from DATA/postmaster.pid; a zombie is
# not running).
sub pid($self) {
    my $pidfile = WebhookTest::read_file("$self->{data}/postmaster.pid") // return undef;
    my ($pid) = $pidfile =~ /\A(\d+)/ or return undef;
    return _alive($pid) ? $pid : undef;
}

sub is_running($self) { return defined $self->pid ? 1 : 0 }

# Runs $sql (one or more statements) with psql over TCP; returns its output
# (-A -t: unaligned, tuples only, "|" between columns, one row a line),
# chomped. Dies with psql's stderr when it fails (a statement error stops it).
sub psql($self, $sql, %o) {
    my $file = File::Temp->new(TEMPLATE => 'pgtest_sql_XXXXXX', TMPDIR => 1);
    print {$file} $sql, "\n";
    close $file;
    my $r = $self->_run_client('psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
                               @{ $self->_conn_args }, '-d', $o{db} // $self->{db}, '-f', $file->filename);
    croak "psql failed (exit $r->{exit}): $r->{stderr}" if $r->{exit} != 0;
    my $out = $r->{stdout};
    chomp $out;
    return $out;
}

# pg_ctl stop -m fast (nothing when the server is not running).
sub stop($self) {
    return $self unless $self->is_running;
    my $r = $self->_run_server('pg_ctl', '-D', $self->{data}, '-m', 'fast', '-w', '-t', '30', 'stop');
    croak "pg_ctl stop failed:\n$r->{output}" if $r->{exit} != 0 && $self->is_running;
    return $self;
}

# Starts the server again on the same data dir and port (after stop or kill9).
# Retries for a few seconds: after a kill9 the port may still be held.
sub start_again($self) {
    croak 'start_again: the server is running' if $self->is_running;
    my $deadline = time + 10;
    until ($self->_pg_ctl_start) {
        croak "pg_ctl start failed:\n$self->{start_output}\n--- server log ---\n" . $self->log if time > $deadline;
        sleep 0.2;
    }
    return $self;
}

# A crash: SIGKILL to the postmaster and all its processes (the backends too,
# or the next start would find the shared memory still in use), then waits
# until they are gone. The next start_again recovers from the WAL.
sub kill9($self) {
    my $pid = $self->pid // return $self;
    my @pids = ($pid, _children($pid));
    kill 'KILL', @pids;
    WebhookTest::wait_for(sub { !grep { _alive($_) } @pids }, 10)
        or croak "processes of the PostgreSQL server survived SIGKILL: @pids";
    return $self;
}

sub _cleanup($self) {
    return if $self->{cleaned}++;
    if (defined $self->{data} && $self->is_running) {
        eval { $self->stop };
        eval { $self->kill9 } if $self->is_running;
    }
    remove_tree($self->{dir}) if defined $self->{dir} && !$ENV{WEBHOOK_TEST_KEEP};
}

# --- internals ---------------------------------------------------------------

# A temp dir the postgres user can reach when we are root (TMPDIR may be
# inside a home it cannot traverse: then /tmp).
sub _temp_dir() {
    my $base = File::Spec->tmpdir;
    if ($> == 0) {
        my $r = _run({}, [_runuser(), '-u', 'postgres', '--', 'test', '-x', $base], '/');
        $base = '/tmp' if $r->{exit} != 0;
    }
    return tempdir('ngx_webhook_pg_XXXXXX', DIR => $base, CLEANUP => 0);
}

sub _pg_ctl_start($self) {
    my @opts = ("-p $self->{port}", "-k $self->{dir}", '-c listen_addresses=127.0.0.1',
                '-c fsync=off', '-c max_connections=200');
    push @opts, "-c $_=$self->{conf}{$_}" for sort keys %{ $self->{conf} };
    my $r = $self->_run_server('pg_ctl', '-D', $self->{data}, '-l', $self->{logfile}, '-w', '-t', '30',
                               '-o', join(' ', @opts), 'start');
    $self->{start_output} = $r->{output};
    return $r->{exit} == 0 && $self->is_running;
}

sub _truncate_log($self) {
    open my $fh, '>', $self->{logfile} or return;
    close $fh;
}

sub _conn_args($self) { return ['-h', '127.0.0.1', '-p', $self->{port}, '-U', $self->{user}] }

# A server-side program (initdb, pg_ctl): as the postgres user when we are root.
sub _run_server($self, $prog, @args) {
    my @cmd = ("$self->{bin}/$prog", @args);
    unshift @cmd, _runuser(), '-u', 'postgres', '--' if $self->{as_postgres};
    return _run({ LANG => 'C', LC_ALL => 'C' }, \@cmd, $self->{dir});
}

# A client program (psql, createdb): as ourselves, over TCP.
sub _run_client($self, $prog, @args) {
    return _run({ LANG => 'C', LC_ALL => 'C', PGCONNECT_TIMEOUT => 5 }, ["$self->{bin}/$prog", @args], $self->{dir});
}

# Runs @$cmd in $cwd with the PG* variables of the environment removed and
# %$env added. Returns { exit, stdout, stderr, output (stdout+stderr) }.
sub _run($env, $cmd, $cwd) {
    my $err = File::Temp->new(TMPDIR => 1);
    my $pid = open(my $fh, '-|') // croak "fork: $!";
    if ($pid == 0) {
        delete $ENV{$_} for grep { /^PG/ } keys %ENV;
        $ENV{$_} = $env->{$_} for keys %$env;
        open STDIN, '<', '/dev/null';
        open STDERR, '>&', $err or POSIX::_exit(127);
        chdir $cwd;
        exec { $cmd->[0] } @$cmd or POSIX::_exit(127);
    }
    local $/;
    my $stdout = <$fh> // '';
    close $fh;
    my $exit = $? >> 8;
    my $stderr = WebhookTest::read_file($err->filename) // '';
    return { exit => $exit, stdout => $stdout, stderr => $stderr, output => $stdout . $stderr };
}

# Alive and not a zombie (the postmaster is not our child: nobody may reap it).
sub _alive($pid) {
    return 0 unless kill 0, $pid;
    my $stat = WebhookTest::read_file("/proc/$pid/stat") // return 1;
    return $stat =~ /\)\s+([A-Za-z])/ && $1 eq 'Z' ? 0 : 1;
}

# The processes whose parent is $ppid.
sub _children($ppid) {
    opendir my $d, '/proc' or return ();
    my @kids;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        my $stat = WebhookTest::read_file("/proc/$pid/stat") // next;
        push @kids, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
    }
    closedir $d;
    return @kids;
}

1;
