package KeysTest;

# Helpers for the API and API-key integration tests (t/keys/, t/store/), on
# top of WebhookTest.pm:
#
#   use KeysTest qw(:all);
#   my $ng = api_nginx(admin => $ADMIN, state => 1, guard => 1, vars => { BACKEND => $backend->port });
#   my $res = api($ng, 'POST', '/v1/keys', { resource => 'room:1', scopes => ['read'] }, key => $ADMIN);
#   $res->{json}                      # decoded body (undef when not JSON)
#   my $k = create_key($ng, $ADMIN, resource => 'room:1', scopes => ['read']);   # dies unless 201
#   auth_get($ng, '/r', $k->{key})   # GET with Authorization: Bearer
#   journal_record($seq, $payload)    # one record of the state directory's format
#   start_output($ng)                 # (exit, output) of starting nginx, for expected failures

use v5.36;
use Exporter 'import';
use Carp qw(croak);
use Digest::SHA qw(sha256_hex);
use File::Temp ();
use POSIX ();
use WebhookTest ();

our @EXPORT_OK = qw(api_conf api_nginx api create_key auth_get auth_request crc32c journal_record journal_payload
                    start_output fresh_connections api_prefix in_children ack_writers);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# The location the tests put `webhook_api` on.
sub api_prefix() { return '/v1' }

# The http{} block of an nginx serving the API: a webhook_zone and one server
# with `webhook_api admin_key=%%ADMIN%%` on /v1/. Options:
#   name      => the zone's name (default wh)
#   size      => the zone's size (default 1m)
#   state     => 1: state=%%PREFIX%%/state (or a path: state=PATH)
#   zone      => more webhook_zone parameters (log=5, max_webhooks=3 ...)
#   guard     => 1: location /r { api_key_auth read; proxy_pass UPSTREAM }, the
#                upstream %%BACKEND%% unless upstream => '%%PORT2%%' ...
#   http      => more http-level lines
#   locations => more lines in the server (locations, client_max_body_size ...)
#   servers   => more server blocks
sub api_conf(%o) {
    my $state = !$o{state} ? '' : $o{state} eq '1' ? ' state=%%PREFIX%%/state' : " state=$o{state}";
    my $zone = join ' ', "zone=" . ($o{name} // 'wh') . ':' . ($o{size} // '1m') . $state, grep { length } $o{zone} // '';
    my $guard = !$o{guard} ? ''
        : '        location /r   { api_key_auth read; proxy_pass http://127.0.0.1:' . ($o{upstream} // '%%BACKEND%%') . "; }\n";
    $o{$_} //= '' for qw(http locations servers);
    return <<"EOF";
    webhook_zone $zone;
$o{http}
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
$guard$o{locations}
    }
$o{servers}
EOF
}

# A WebhookTest::Nginx (not started) for conf => TEMPLATE, or api_conf(%o):
# admin => the admin key (%%ADMIN%%, required); vars, env, main as for
# WebhookTest::Nginx->new.
sub api_nginx(%o) {
    my $admin = $o{admin} // croak 'api_nginx: admin => KEY required';
    return WebhookTest::Nginx->new(conf => $o{conf} // api_conf(%o), vars => { ADMIN => $admin, %{ $o{vars} // {} } },
                                   env => $o{env} // {}, main => $o{main} // '');
}

# One API call. $body: a hash/array ref (sent as JSON), a string (sent as is),
# or undef. Options: key => KEY (Authorization: Bearer), x_api_key => KEY,
# content_type => TYPE (default application/json when there is a body),
# headers => {...}. Returns the HTTP::Tiny response plus json => decoded body.
sub api($ng, $method, $path, $body = undef, %o) {
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $o{key}" if defined $o{key};
    $h{'X-API-Key'} = $o{x_api_key} if defined $o{x_api_key};
    my $content = ref $body ? WebhookTest::json_encode($body) : $body;
    if (defined $content) {
        my $ct = exists $o{content_type} ? $o{content_type} : 'application/json';
        $h{'Content-Type'} = $ct if defined $ct;
    }
    $path = api_prefix() . $path unless $path =~ m{^/v1/} || $o{raw_path};
    my $res = WebhookTest::http_request($method, $ng->url($path), \%h, $content);
    $res->{json} = WebhookTest::json_decode($res->{content} // '');
    return $res;
}

# POST /keys as $caller; croaks unless 201. Returns the decoded answer.
sub create_key($ng, $caller, %fields) {
    my $res = api($ng, 'POST', '/keys', \%fields, key => $caller);
    croak "POST /keys failed: $res->{status} $res->{content}" unless $res->{status} == 201 && $res->{json};
    return $res->{json};
}

sub auth_request($ng, $method, $path, $key, %o) {
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $key" if defined $key;
    return WebhookTest::http_request($method, $ng->url($path), \%h, $o{body});
}
sub auth_get($ng, $path, $key, %o) { return auth_request($ng, 'GET', $path, $key, %o) }

# $n GET requests, each on a new connection; returns the list of statuses.
sub fresh_connections($ng, $path, $key, $n) {
    my @status;
    push @status, auth_get($ng, $path, $key)->{status} for 1 .. $n;
    return @status;
}

# --- the state directory's record format ---------------------------------------
#   u32 magic "WHJ1" (0x314a4857 LE) | u32 payload length | u64 seq |
#   u32 CRC-32C of (seq as 8 LE bytes, payload) | payload

my @CRC_TABLE = map {
    my $c = $_;
    $c = ($c & 1) ? (0x82f63b78 ^ ($c >> 1)) : ($c >> 1) for 1 .. 8;
    $c;
} 0 .. 255;

# CRC-32C (Castagnoli), continuing from $crc (as the module's crc32c()).
sub crc32c($data, $crc = 0) {
    $crc = ~$crc & 0xffffffff;
    $crc = $CRC_TABLE[($crc ^ $_) & 0xff] ^ ($crc >> 8) for unpack 'C*', $data;
    return ~$crc & 0xffffffff;
}

sub journal_record($seq, $payload) {
    my $seq_bytes = pack 'Q<', $seq;
    return pack('V V', 0x314a4857, length $payload) . $seq_bytes . pack('V', crc32c($payload, crc32c($seq_bytes)))
        . $payload;
}

# The key.put payload for a key string (only its SHA-256 is written).
sub journal_payload(%k) {
    my $m = {
        op         => 'key.put',
        id         => $k{id},
        hash       => sha256_hex($k{key}),
        display    => substr($k{key}, 0, 8),
        resource   => $k{resource} // 'room:1',
        label      => $k{label} // '',
        scopes     => $k{scopes} // 1,
        created_at => $k{created_at} // time,
        expires_at => $k{expires_at} // 0,
    };
    return WebhookTest::json_encode($m);
}

# Starts nginx (no nginx -t first) and returns (exit, output): for starts that
# are expected to fail.
sub start_output($ng) {
    my $out = WebhookTest::_capture($ng->_cmd);
    return ($out->{exit}, $out->{output});
}

# Runs $code->($i) in $n forked children (i = 0 .. n-1) at once; waits for
# them all. Children leave with POSIX::_exit (no END blocks, no temp-dir
# cleanup). Returns the children's exit codes.
sub in_children($n, $code) {
    my @pids;
    for my $i (0 .. $n - 1) {
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            my $rc = eval { $code->($i); 1 } ? 0 : 1;
            POSIX::_exit($rc);
        }
        push @pids, $pid;
    }
    my @rc;
    for my $pid (@pids) { waitpid $pid, 0; push @rc, $? >> 8 }
    return @rc;
}

# Concurrent writers that log what was acknowledged, for the tests that stop,
# reload or kill -9 nginx under them: a forked process runs $n children at
# once (in_children); child $i calls $step->($i, $k) for k = 1 .. $max and
# appends each line it returns (e.g. the id of an event answered 202) to its
# own file, until $step returns undef or stop() is called. The test process
# goes on meanwhile:
#   my $w = ack_writers(4, 2000, sub ($i, $k) { my $res = api(...); $res->{status} == 202 ? $res->{json}{id} : undef });
#   wait_for(sub { $w->count >= 150 }); $ng->kill9; $w->wait;
#   my @acked = $w->lines;
sub ack_writers($n, $max, $step) {
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        in_children($n, sub ($i) {
            open my $fh, '>>', "$dir/acked.$i" or die "$dir/acked.$i: $!";
            $fh->autoflush(1);
            for my $k (1 .. $max) {
                last if -e "$dir/stop";
                my $line = $step->($i, $k) // last;
                print {$fh} "$line\n";
            }
        });
        POSIX::_exit(0);
    }
    return bless { pid => $pid, dir => $dir }, 'KeysTest::AckWriters';
}

package KeysTest::AckWriters;

use v5.36;

# The lines logged so far (all writers), and how many.
sub lines($self) { return map { split /\n/, WebhookTest::read_file($_) // '' } glob "$self->{dir}/acked.*" }
sub count($self) { return scalar(my @l = $self->lines) }
# Waits for the writers to end by themselves; stop() asks them to end first.
sub wait($self) { waitpid $self->{pid}, 0 }
sub stop($self) { WebhookTest::write_file("$self->{dir}/stop", ''); $self->wait }

package KeysTest;

1;
