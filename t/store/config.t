# The parameters every directive shares, as nginx -t sees them: zone=NAME is
# bound once (a second zone= or replay=NAME is refused, not silently the last),
# a zone that no webhook_zone declares is named with the directive, and an
# empty value (NAME=) is refused wherever a value is needed (admin_key= would
# otherwise mean "no admin", resource= "no resource").
use v5.36;
use Test::More;
use WebhookTest qw(:all);

sub conf_with($location, $http = 'webhook_zone zone=wz:1m;') {
    return <<"EOF";
    $http
    server {
        listen 127.0.0.1:%%PORT%%;
        location /x/ {
            $location
        }
    }
EOF
}

# [location lines, http lines, regex the nginx -t output must match, name]
my @bad = (
    ['webhook_api admin_key=;', undef, qr/webhook_api: parameter "admin_key=" needs a value/, 'webhook_api admin_key= (empty)'],
    ['webhook_api zone=;', undef, qr/webhook_api: parameter "zone=" needs a value/, 'webhook_api zone= (empty)'],
    ['webhook_api zone=wz zone=wz;', undef, qr/webhook_api: invalid zone= in "zone=wz" \(given twice\)/,
     'webhook_api zone= given twice'],
    ['webhook_api zone=nope;', undef, qr/webhook_api: unknown webhook_zone "nope"/, 'webhook_api naming an unknown zone'],
    ['api_key_auth read resource=; proxy_pass http://127.0.0.1:%%PORT%%;', undef, qr/api_key_auth: parameter "resource=" needs a value/,
     'api_key_auth resource= (empty)'],
    ['api_key_auth read zone=wz zone=b; proxy_pass http://127.0.0.1:%%PORT%%;', "webhook_zone zone=wz:1m;\n    webhook_zone zone=b:1m;",
     qr/api_key_auth: invalid zone= in "zone=b" \(given twice\)/, 'api_key_auth zone= given twice'],
    ['webhook_status zone=nope;', undef, qr/webhook_status: unknown webhook_zone "nope"/, 'webhook_status naming an unknown zone'],
    ['webhook_verify github secret=x replay=wz replay=b; proxy_pass http://127.0.0.1:%%PORT%%;', "webhook_zone zone=wz:1m;\n    webhook_zone zone=b:1m;",
     qr/webhook_verify: invalid replay= in "replay=b" \(given twice\)/, 'webhook_verify replay= given twice'],
    ['webhook_verify github secret=x header=; proxy_pass http://127.0.0.1:%%PORT%%;', undef, qr/webhook_verify: parameter "header=" needs a value/,
     'webhook_verify header= (empty)'],
);

for my $case (@bad) {
    my ($location, $http, $re, $name) = @$case;
    my ($exit, $out) = WebhookTest::Nginx->nginx_t(defined $http ? conf_with($location, $http) : conf_with($location));
    isnt($exit, 0, "nginx -t rejects: $name");
    like($out, $re, "$name: the message names the directive and the parameter") or diag($out);
    like($out, qr/nginx\.conf:\d+/, "$name: the message names file and line");
    unlike($out, qr/zero size shared memory zone/, "$name: not NGINX's own zero-size message");
}

# Empty values stay allowed where they mean something: prefix= (no prefix).
{
    my ($exit, $out) = WebhookTest::Nginx->nginx_t(conf_with('webhook_verify hmac secret=x header=X-Sig prefix=; proxy_pass http://127.0.0.1:%%PORT%%;'));
    is($exit, 0, 'webhook_verify prefix= (empty) passes nginx -t') or diag($out);
    ($exit, $out) = WebhookTest::Nginx->nginx_t(conf_with('webhook_api zone=wz admin_key=k;'));
    is($exit, 0, 'control: webhook_api zone=wz admin_key=k passes nginx -t') or diag($out);
}

done_testing;
