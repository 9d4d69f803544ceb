# Every configuration the documentation shows is tested: each examples/*.conf
# passes `nginx -t` as a whole file in a prefix of its own (module in modules/,
# a throwaway certificate where one is needed), each examples/quickstart/*.conf
# inside an http{} block, as conf.d includes it (state=/var/lib/nginx/webhooks
# moves into the prefix); and every ```nginx block of
# README.md and docs/*.md is a verbatim part of one of these files.
use v5.36;
use Test::More;
use File::Basename qw(basename dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use WebhookTest qw(:all);

my $root = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my @full = sort glob "$root/examples/*.conf";
my @snippets = sort glob "$root/examples/quickstart/*.conf";
ok @full >= 3 && @snippets == 3, 'the example files are there';

# nginx's environment: the sanitizer runtimes when the module is built with them.
my %env = $ENV{WEBHOOK_SANITIZER_PRELOAD}
    ? (LD_PRELOAD => $ENV{WEBHOOK_SANITIZER_PRELOAD}, ASAN_OPTIONS => 'detect_leaks=0') : ();

sub nginx_t($conf_text, $name) {
    my $prefix = tempdir('ngx_webhook_example_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    chmod 0755, $prefix;
    mkdir "$prefix/$_" for qw(conf conf/certs modules logs);
    symlink module_path(), "$prefix/modules/ngx_http_webhook_module.so" or die "symlink: $!";
    if ($conf_text =~ m{ssl_certificate\s+certs/([^;\s]+)\.pem}) {
        my $out = WebhookTest::_capture('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                                        '-subj', "/CN=$1", '-keyout', "$prefix/conf/certs/$1.key", '-out', "$prefix/conf/certs/$1.pem");
        die "openssl: $out->{output}" if $out->{exit};
    }
    write_file("$prefix/conf/nginx.conf", $conf_text);
    my $out = WebhookTest::_capture(\%env, nginx_binary(), '-p', "$prefix/", '-c', "$prefix/conf/nginx.conf",
                                    '-e', "$prefix/logs/error.log", '-t');
    is $out->{exit}, 0, "nginx -t: $name" or diag $out->{output};
    unlike $out->{output}, qr/\[(?:warn|emerg|alert|crit)\]/, "$name: no warning" or diag $out->{output};
    # Nothing outside the prefix: the temp paths and the pid are the prefix's.
    ok -d "$prefix/client_body_temp", "$name: temp paths in the prefix";
}

# A state folder given as an absolute path moves into the prefix.
for my $f (@full) {
    nginx_t(read_file($f) =~ s{state=/var/lib/nginx/webhooks}{state=state}gr, 'examples/' . basename($f));
}
for my $f (@snippets) {
    my $wrapped = join "\n", 'load_module modules/ngx_http_webhook_module.so;', 'pid logs/nginx.pid;', 'events {}',
        'http {', map("    ${_}_temp_path ${_}_temp;", qw(client_body proxy fastcgi uwsgi scgi)),
        (read_file($f) =~ s{state=/var/lib/nginx/webhooks}{state=state}gr), '}', '';
    nginx_t($wrapped, 'examples/quickstart/' . basename($f) . ' in http {}');
}

# Every ```nginx block of the docs is part of an example file (lines trimmed).
my $all = join "\n", map { read_file($_) } @full, @snippets;
my $norm = sub ($t) { join "\n", grep { length } map { s/^\s+|\s+$//gr } split /\n/, $t };
my $corpus = $norm->($all);
my $blocks = 0;
for my $doc (grep { -f } "$root/README.md", sort glob "$root/docs/*.md") {
    my $text = read_file($doc);
    while ($text =~ /^```nginx\n(.*?)^```/msg) {
        my $block = $1;
        $blocks++;
        ok index($corpus, $norm->($block)) >= 0, basename($doc) . ': an nginx block is part of an example file'
            or diag "not found in examples/:\n$block";
    }
}
ok $blocks >= 3, "the docs' nginx blocks were checked ($blocks)";

done_testing;
