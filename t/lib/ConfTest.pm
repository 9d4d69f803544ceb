package ConfTest;

# What nginx -t says about the module's configuration (t/*/conf_checks.t).
# A message is asserted whole, with the file and line of the directive it is
# about: the first line of the configuration that contains a needle.
#
#   refused('name', $http_template, 'webhook_verify github', 'webhook_verify: ... (location "/a")');
#   warned(...same arguments...);   # nginx -t passes, with that [warn]
#   accepted('name', $http_template);   # nginx -t passes, no [warn] and no [emerg]
#   app_conf($locations, server => ..., zones => ...)   # a template to test with
#
# Options: vars/main as for WebhookTest::Nginx->new; include => TEXT written to
# PREFIX/conf/inc.conf (the template includes it: include %%PREFIX%%/conf/inc.conf;)
# and the needle then looked up there; setup => sub ($ng) { ... } runs before
# nginx -t. %%PREFIX%% in a message or in include => stands for the prefix,
# %%AT:NEEDLE%% in a message for the FILE:LINE of another line.
# Each returns the WebhookTest::Nginx and the output of nginx -t.

use v5.36;
use Exporter 'import';
use Test::More;
use WebhookTest ();

our @EXPORT_OK = qw(refused warned accepted app_conf);

# An http{} template: zones (default one, wz), a server on %%PORT%% with more
# server-level lines and $locations, and a stand-in application on %%PORT2%%
# answering "app".
sub app_conf($locations, %o) {
    my $zones = $o{zones} // 'webhook_zone zone=wz:1m;';
    my $server = $o{server} // '';
    return <<"EOF";
    $zones
    server {
        listen 127.0.0.1:%%PORT%%;
        $server
        $locations
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location / { return 200 "app\\n"; }
    }
EOF
}

sub expected($ng, $message) {
    return $message =~ s/%%PREFIX%%/$ng->prefix/ger =~ s/%%AT:(.+?)%%/$ng->conf_line($1)/ger;
}

sub nginx_t($template, %o) {
    my $ng = WebhookTest::Nginx->new(conf => $template, vars => $o{vars} // {}, main => $o{main} // '');
    WebhookTest::write_file($ng->prefix . '/conf/inc.conf', expected($ng, $o{include})) if defined $o{include};
    $o{setup}->($ng) if $o{setup};
    my ($exit, $out) = $ng->test_config;
    return ($ng, $exit, $out);
}

sub at($ng, $needle, %o) {
    return $ng->conf_line($needle, defined $o{include} ? $ng->prefix . '/conf/inc.conf' : $ng->conf_path);
}

sub refused($name, $template, $needle, $message, %o) {
    my ($ng, $exit, $out) = nginx_t($template, %o);
    isnt($exit, 0, "$name: nginx -t fails");
    my $at = at($ng, $needle, %o);
    $message = expected($ng, $message);
    like($out, qr/^nginx: \[emerg\] \Q$message\E in \Q$at\E$/m, "$name: [emerg] with the message, at $needle")
        or diag($out);
    return ($ng, $out);
}

sub warned($name, $template, $needle, $message, %o) {
    my ($ng, $exit, $out) = nginx_t($template, %o);
    is($exit, 0, "$name: nginx -t passes") or diag($out);
    my $at = at($ng, $needle, %o);
    $message = expected($ng, $message);
    like($out, qr/^nginx: \[warn\] \Q$message\E in \Q$at\E$/m, "$name: [warn] with the message, at $needle")
        or diag($out);
    return ($ng, $out);
}

sub accepted($name, $template, %o) {
    my ($ng, $exit, $out) = nginx_t($template, %o);
    is($exit, 0, "$name: nginx -t passes") or diag($out);
    unlike($out, qr/\[(?:warn|emerg)\]/, "$name: without a [warn]") or diag($out);
    return ($ng, $out);
}

1;
