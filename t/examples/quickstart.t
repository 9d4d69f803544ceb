# The README's three quickstarts (examples/quickstart/*.conf, http-level files
# for conf.d), run as written — only the ports and the state folder move into
# the test's prefix — with the requests the README shows, and the receivers of
# examples/receivers/ (node with the standardwebhooks library, python stdlib).
use v5.36;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use WebhookTest qw(:all);
use KeysTest qw(api create_key);

my $examples = abs_path(dirname(abs_path(__FILE__)) . '/../../examples');
my $admin = 'change-me-admin-key';

# The file as a test template: its listen ports and state folder become the prefix's.
sub quickstart($name) {
    my $conf = read_file("$examples/quickstart/$name.conf") // die "examples/quickstart/$name.conf: $!";
    $conf =~ s/127\.0\.0\.1:8080\b/127.0.0.1:%%PORT%%/g;
    $conf =~ s/127\.0\.0\.1:8081\b/127.0.0.1:%%PORT2%%/g;
    $conf =~ s{state=/var/lib/nginx/webhooks}{state=%%PREFIX%%/state}g;
    return WebhookTest::Nginx->new(conf => $conf);
}

subtest 'verify: a signed GitHub webhook reaches the app once; others are refused' => sub {
    my $ng = quickstart('verify');
    $ng->start;
    my $body = '{"zen":"Design for failure.","n":' . time . '}';
    my $sig = sign_github("It's a Secret to Everybody", $body);
    my $res = http_post($ng->url('/hooks/github'), $body, $sig);
    is $res->{status}, 200, 'signed: 200';
    is $res->{content}, "the app got a verified webhook\n", 'from the app';
    is error_code(http_post($ng->url('/hooks/github'), $body, $sig)), 'replayed', 'the same delivery again: replayed';
    is error_code(http_post($ng->url('/hooks/github'), "$body.", $sig)), 'bad_signature', 'another body: bad_signature';
    is error_code(http_post($ng->url('/hooks/github'), $body)), 'missing_signature', 'unsigned: missing_signature';
    my $std = sign_standard('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', $body);
    is http_post($ng->url('/hooks/svix'), $body, $std)->{status}, 200, 'Standard Webhooks: 200';
    my $lib = sign_with_library('standardwebhooks', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', $body);
    is http_post($ng->url('/hooks/svix'), $body, $lib)->{status}, 200, "signed by the standardwebhooks library: 200";
    $ng->log_is_clean;
};

subtest 'keys: a key for one project reads it, and nothing else' => sub {
    my $ng = quickstart('keys');
    $ng->start;
    my $k = create_key($ng, $admin, resource => 'project:apollo', scopes => ['read'], label => 'dashboard');
    like $k->{key}, qr/^\w+_[A-Za-z0-9]{32,}$/, 'the key, shown once';
    my $res = WebhookTest::http_get($ng->url('/projects/apollo/status'), { Authorization => "Bearer $k->{key}" });
    is $res->{status}, 200, 'GET its project: 200';
    is $res->{content}, "the app served GET /projects/apollo/status for key $k->{id}\n", 'the app sees the key id only';
    is error_code(WebhookTest::http_post($ng->url('/projects/apollo/status'), '{}',
                  { Authorization => "Bearer $k->{key}" })), 'insufficient_scope', 'POST with a read key: insufficient_scope';
    is error_code(WebhookTest::http_get($ng->url('/projects/gemini'), { Authorization => "Bearer $k->{key}" })),
       'forbidden_resource', 'another project: forbidden_resource';
    is api($ng, 'DELETE', "/keys/$k->{id}", undef, key => $admin)->{status}, 204, 'revoked';
    is error_code(WebhookTest::http_get($ng->url('/projects/apollo'), { Authorization => "Bearer $k->{key}" })),
       'invalid_api_key', 'a revoked key: invalid_api_key';
    $ng->log_is_clean;
};

# Receivers started by this test: stopped however the test ends.
my @receiver_pids;
my $test_pid = $$;
END { if ($$ == $test_pid) { kill 'TERM', @receiver_pids; waitpid $_, 0 for @receiver_pids } }

# A receiver of examples/receivers/ on $port: (pid, output file).
sub start_receiver($cmd, $port, $secret, $dir) {
    my $out = "$dir/receiver.$port.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $out or die "$out: $!";
        open STDERR, '>&', \*STDOUT;
        $ENV{PORT} = $port;
        $ENV{WEBHOOK_SECRET} = $secret;
        exec @$cmd or die "exec @$cmd: $!";
    }
    push @receiver_pids, $pid;
    wait_for_port($port) or die("receiver @$cmd did not listen: " . (read_file($out) // ''));
    return { pid => $pid, port => $port, out => $out };
}

subtest 'deliver: events reach the node and python receivers, verified' => sub {
    my $ng = quickstart('deliver');
    $ng->start;
    my $console = http_get($ng->url('/console/'));
    is $console->{status}, 200, 'the console is served';
    like $console->{content}, qr{<meta name="webhook-api" content="/v1/">}, 'over /v1/';
    my %receivers;
    # ES modules resolve packages from the file's folder up: a copy in the prefix,
    # beside a link to t/npm's node_modules (nothing is written into the checkout).
    my $mjs = $ng->prefix . '/receiver.mjs';
    write_file($mjs, read_file("$examples/receivers/receiver.mjs"));
    symlink(npm_dir() . '/node_modules', $ng->prefix . '/node_modules') or die "symlink: $!";
    for my $r (['node', ['node', $mjs]], ['python', ['python3', "$examples/receivers/receiver.py"]]) {
        my ($name, $cmd) = @$r;
        my $port = free_port();
        my $res = api($ng, 'POST', '/webhooks', { url => "http://127.0.0.1:$port/webhooks", events => ['order.*'],
                                                  tenant => 'shop' }, key => $admin);
        is $res->{status}, 201, "$name: an endpoint";
        like $res->{json}{secret}, qr/^whsec_/, "$name: its secret, in this answer only";
        $receivers{$name} = { %{ start_receiver($cmd, $port, $res->{json}{secret}, $ng->prefix) }, id => $res->{json}{id} };
    }
    # The application publishes with a key of the tenant's that has events:publish.
    my $app_key = create_key($ng, $admin, resource => 'shop', scopes => ['events:publish'], label => 'shop backend');
    my $pub = api($ng, 'POST', '/events', { type => 'order.paid', tenant => 'shop', data => { order => 1042, amount => '19.90' } },
                  key => $app_key->{key});
    is $pub->{status}, 202, 'published: 202';
    is $pub->{json}{deliveries}, 2, 'one delivery per endpoint';
    for my $name (sort keys %receivers) {
        my $r = $receivers{$name};
        ok wait_for(sub { (read_file($r->{out}) // '') =~ /received order\.paid evt_\w+: \{.*"order":1042/ }, 20),
           "$name receiver verified and printed the event" or diag read_file($r->{out});
        # The receiver prints before it answers: the attempt is recorded a moment later.
        my $d;
        wait_for(sub {
            $d = api($ng, 'GET', "/webhooks/$r->{id}/deliveries", undef, key => $admin)->{json}{deliveries}[0];
            $d && $d->{status} ne 'pending';
        }, 20);
        is $d->{status}, 'succeeded', "$name: the delivery log says succeeded";
        is $d->{response_status}, 204, "$name: answered 204";
    }
    # A receiver holding another secret refuses: the delivery fails, the log says why.
    my $wrong = api($ng, 'POST', '/webhooks', { url => "http://127.0.0.1:$receivers{python}{port}/webhooks", events => ['order.refunded'],
                    tenant => 'shop', secret => 'whsec_' . 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=' }, key => $admin);
    is $wrong->{status}, 201, 'an endpoint whose secret the receiver does not hold';
    api($ng, 'POST', '/events', { type => 'order.refunded', tenant => 'shop', data => {} }, key => $admin);
    ok wait_for(sub {
        my $d = api($ng, 'GET', "/webhooks/$wrong->{json}{id}/deliveries", undef, key => $admin)->{json}{deliveries}[0];
        $d && ($d->{response_status} // 0) == 400;
    }, 20), 'the receiver refused a wrong signature (400)';
    kill 'TERM', $_->{pid} for values %receivers;
    waitpid $_->{pid}, 0 for values %receivers;
    @receiver_pids = ();
    $ng->log_is_clean;
};

done_testing;
