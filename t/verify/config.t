# webhook_verify configuration: nginx -t rejects bad arguments with a message
# naming the parameter; a valid configuration passes; reload applies a new
# secret and keeps the replay cache; kill -9 and restart on the same prefix.
use v5.36;
use Test::More;
use WebhookTest qw(:all);

sub conf_with($directives, $http = '') {
    return <<"EOF";
    $http
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            $directives
            proxy_pass http://127.0.0.1:9;
        }
    }
EOF
}

# [directive lines, extra http lines, regex the nginx -t output must match, name]
my @bad = (
    ['webhook_verify gitlab secret=x;', '', qr/unknown scheme "gitlab"/, 'unknown scheme'],
    ['webhook_verify hmac secret=x encoding=base32;', '', qr/encoding=.*base32/, 'bad encoding='],
    ['webhook_verify hmac secret=x alg=md5;', '', qr/alg=.*md5/, 'bad alg='],
    ['webhook_verify stripe secret=x tolerance=soon;', '', qr/tolerance=.*soon/, 'bad tolerance='],
    ['webhook_verify stripe secret=x tolerance=-5s;', '', qr/tolerance=/, 'negative tolerance='],
    ['webhook_verify github;', '', qr/secret=/, 'missing secret='],
    ['webhook_verify github header=X-Sig;', '', qr/secret=/, 'missing secret= with other parameters'],
    ['webhook_verify github secret=;', '', qr/secret=/, 'empty secret='],
    ['webhook_verify standard secret=whsec_;', '', qr/secret=/, 'whsec_ with nothing after it'],
    ['webhook_verify github secret=x alg=sha1;', '', qr/alg=.*github|github.*alg=/, 'alg= on github'],
    ['webhook_verify stripe secret=x encoding=base64;', '', qr/encoding=.*stripe|stripe.*encoding=/, 'encoding= on stripe'],
    ['webhook_verify slack secret=x prefix=v0=;', '', qr/prefix=.*slack|slack.*prefix=/, 'prefix= on slack'],
    ['webhook_verify github secret=x mode=audit;', '', qr/mode=.*audit/, 'bad mode='],
    ['webhook_verify github secret=x colour=blue;', '', qr/colour=blue/, 'unknown parameter'],
    ['webhook_verify github secret=x replay=nope;', 'webhook_zone zone=wz:1m;', qr/replay=.*"nope"/, 'replay= naming an unknown zone'],
    ['webhook_verify github secret=x replay=on;', '', qr/replay=.*webhook_zone/, 'replay=on without any webhook_zone'],
    ['webhook_verify github secret=x replay=on;', "webhook_zone zone=a:1m;\n    webhook_zone zone=b:1m;",
     qr/replay=.*zone=/, 'replay=on with two zones'],
    ['webhook_verify github secret=x;', 'webhook_zone zone=wz:lots;', qr/size.*"zone=wz:lots"|"zone=wz:lots".*size/, 'bad webhook_zone size'],
    ['webhook_verify github secret=x;', 'webhook_zone zone=wz:1k;', qr/size.*"zone=wz:1k"|"zone=wz:1k".*size/, 'webhook_zone size too small'],
    ['webhook_verify github secret=x;', 'webhook_zone zone=wz;', qr/zone=NAME:SIZE/, 'webhook_zone without a size'],
    ['webhook_verify github secret=x;', 'webhook_zone size=1m;', qr/"size=1m"/, 'webhook_zone without zone='],
    ["webhook_verify github secret=x;\n            webhook_verify github secret=y;", '', qr/duplicate/,
     'two webhook_verify in one location'],
    ['webhook_verify;', '', qr/number of arguments|webhook_verify/, 'no arguments'],
);

for my $case (@bad) {
    my ($dir, $http, $re, $name) = @$case;
    my ($exit, $out) = WebhookTest::Nginx->nginx_t(conf_with($dir, $http));
    isnt($exit, 0, "nginx -t rejects: $name");
    like($out, qr/\[emerg\]/, "$name: [emerg]");
    like($out, $re, "$name: the message names the parameter") or diag($out);
    like($out, qr/nginx\.conf:\d+/, "$name: the message names file and line");
}

# A configuration using every parameter is accepted.
{
    my $good = conf_with(<<'EOF', <<'EOF2');
webhook_verify hmac secret=a secret=$http_x_k header=X-Stairoids-Signature prefix=sha256= encoding=base64 alg=sha512 tolerance=10m replay=wz id_header=X-Id mode=report;
            location /std { webhook_verify standard secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw svix-ignored=1; }
EOF
    webhook_zone zone=wz:1m;
EOF2
    my ($exit, $out) = WebhookTest::Nginx->nginx_t($good);
    isnt($exit, 0, 'control: an unknown parameter in a nested location is caught too');
    $good =~ s/ svix-ignored=1//;
    ($exit, $out) = WebhookTest::Nginx->nginx_t($good);
    is($exit, 0, 'a configuration with every parameter passes nginx -t') or diag($out);
    ($exit, $out) = WebhookTest::Nginx->nginx_t(conf_with('webhook_verify off;'));
    is($exit, 0, 'webhook_verify off passes nginx -t') or diag($out);
    ($exit, $out) = WebhookTest::Nginx->nginx_t(conf_with(q{webhook_verify github "secret=It's a Secret to Everybody" tolerance=0;}));
    is($exit, 0, 'a quoted secret with spaces passes nginx -t') or diag($out);
}

# --- reload and restart ----------------------------------------------------------------

my $backend = WebhookTest::Backend->start;
my $tpl = <<'EOF';
    webhook_zone zone=wz:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /gh { webhook_verify github secret=%%SECRET%% replay=wz; proxy_pass http://127.0.0.1:%%BACKEND%%; }
    }
EOF
my $ng = WebhookTest::Nginx->new(conf => $tpl, vars => { BACKEND => $backend->port, SECRET => 'before-reload' });
$ng->start;
my $body = qq({"reload":true}\n);
my $h1 = sign_github('before-reload', $body, 'dlv-1');
is(http_post($ng->url('/gh'), $body, $h1)->{status}, 200, 'before reload: old secret passes');
my @workers = $ng->worker_pids;

$ng->write_conf(vars => { SECRET => 'after-reload' });
$ng->reload;
my @new = $ng->worker_pids;
ok(@new == 2 && !grep({ my $w = $_; grep { $_ == $w } @workers } @new), 'reload: two new workers');
is(http_post($ng->url('/gh'), $body, sign_github('before-reload', $body, 'dlv-2'))->{status}, 401,
   'after reload: old secret refused');
is(http_post($ng->url('/gh'), $body, sign_github('after-reload', $body, 'dlv-3'))->{status}, 200,
   'after reload: new secret passes');
my $h4 = sign_github('after-reload', $body, 'dlv-1');
my $res = http_post($ng->url('/gh'), $body, $h4);
is($res->{status}, 401, 'after reload: a delivery id seen before the reload is still replayed');
is(error_code($res), 'replayed', 'after reload: code replayed');

$ng->kill9;
ok(!$ng->is_running, 'kill -9: master gone');
$ng->restart;
ok($ng->is_running, 'restart on the same prefix');
is(http_post($ng->url('/gh'), $body, sign_github('after-reload', $body, 'dlv-5'))->{status}, 200,
   'after restart: verification works');
ok($ng->stop, 'graceful stop');
ok(!$ng->is_running, 'stopped');
my @emerg = grep { /\[(?:alert|emerg|crit)\]/ && !/bind\(\)|still could not bind/ } split /\n/, $ng->error_log;
# kill -9 leaves nothing behind that NGINX complains about at [alert] on restart
ok(!@emerg, 'no [alert]/[emerg]/[crit] across reload, kill -9 and restart') or diag(join "\n", @emerg);
$ng->log_lacks($_, "secret $_ not logged") for 'before-reload', 'after-reload';

done_testing;
