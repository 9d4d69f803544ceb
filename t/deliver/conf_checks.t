# nginx -t and delivery's mistakes (issue 9), each at the directive's own
# line: a location= that cannot send attempts (missing, no proxy_pass, no
# $webhook_url, a `return` answering first) is refused; one clients can reach
# (not internal) or without a resolver gets a [warn]; webhook_emit on a zone
# that no webhook_delivery serves is refused (events would never be published).
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use ConfTest qw(refused warned accepted);

my $SNI = 'proxy_ssl_server_name on; proxy_ssl_name $webhook_server_name;';
my $GOOD = "location /_webhook { internal; proxy_pass \$webhook_url; $SNI }";

sub conf($locations, %o) {
    my $delivery = $o{delivery} // 'webhook_delivery location=/_webhook;';
    my $server = $o{server} // '';
    my $resolver = $o{resolver} // 'resolver 127.0.0.1;';
    return <<"EOF";
    webhook_zone zone=wz:1m;
    $resolver
    $delivery
    server {
        listen 127.0.0.1:%%PORT%%;
        $server
        location /v1/ { webhook_api zone=wz admin_key=k; }
        $locations
    }
EOF
}

accepted('a complete delivery location', conf($GOOD));

refused('no location for location=', conf(''), 'webhook_delivery',
        'webhook_delivery: no server has a location for location=/_webhook: add "location /_webhook { internal; '
        . 'proxy_pass $webhook_url; }"');
refused('no location for location= in its server', conf('', delivery => '', server => 'webhook_delivery location=/_webhook;')
        . "    server { listen 127.0.0.1:%%PORT3%%; $GOOD }\n", 'webhook_delivery',
        'webhook_delivery: this server has no location for location=/_webhook: add "location /_webhook { internal; '
        . 'proxy_pass $webhook_url; }"');
refused('a delivery location without proxy_pass', conf('location /_webhook { internal; }'), 'webhook_delivery',
        'webhook_delivery: location "/_webhook", which serves location=/_webhook, has no proxy_pass, so no attempt can '
        . 'be sent; write "proxy_pass $webhook_url;" in it');
refused('no $webhook_url anywhere', conf('location /_webhook { internal; proxy_pass http://127.0.0.1:%%PORT2%%; }'),
        'webhook_delivery',
        'webhook_delivery: no directive uses $webhook_url, so attempts would not go to the endpoints; write '
        . '"proxy_pass $webhook_url;" in location "/_webhook"');
refused('return in the delivery location', conf('location /_webhook { internal; proxy_pass $webhook_url; return 204; }'),
        'webhook_delivery',
        'webhook_delivery: the location\'s "return" answers every attempt to location=/_webhook before proxy_pass can '
        . 'send it: no delivery would reach an endpoint; remove that "return"');
refused('return at the level of the delivery location\'s server', conf($GOOD, server => 'return 404;'), 'webhook_delivery',
        'webhook_delivery: the server\'s "return" answers every attempt to location=/_webhook before proxy_pass can '
        . 'send it: no delivery would reach an endpoint; remove that "return"');
# A server-level guard for clients (attempts have no client Host) may answer
# every attempt.
warned('a return inside if at the level of the delivery location\'s server',
       conf($GOOD, server => 'if ($host != "example.com") { return 444; }'), 'webhook_delivery',
       'webhook_delivery: a "return" inside "if" (or after "rewrite" or "break") of the server holding '
       . 'location=/_webhook also runs for every attempt (which has no client Host) and may answer it before proxy_pass '
       . 'sends it; move that "return" into the server\'s locations for clients, or location=/_webhook into a server '
       . 'of its own');
accepted('a return inside if in the delivery location (a guard)',
         conf('location /_webhook { internal; if ($webhook_url = "") { return 404; } proxy_pass $webhook_url; ' . $SNI . ' }'));

# Not internal: a client reaching the location gets an error, nothing goes out.
{
    my ($ng) = warned('a delivery location that is not internal', conf('location /_webhook { proxy_pass $webhook_url; }'),
                      'webhook_delivery',
                      'webhook_delivery: location "/_webhook", which serves location=/_webhook, is not internal: clients '
                      . 'can request it (they get an error, nothing is sent); add "internal;" to it');
    $ng->start;
    is(http_post($ng->url('/_webhook'), '{}')->{status}, 500, 'not internal: a client request gets 500 (empty $webhook_url)');
    $ng->stop;
}
# $webhook_url holds the checked address: without proxy_ssl_name, no SNI.
warned('no proxy_ssl_name $webhook_server_name', conf('location /_webhook { internal; proxy_pass $webhook_url; }'),
       'webhook_delivery',
       'webhook_delivery: no directive uses $webhook_server_name, so https:// endpoints get no SNI and proxy_ssl_verify '
       . 'would check the address, not the name; add "proxy_ssl_server_name on; proxy_ssl_name $webhook_server_name;" '
       . 'to location "/_webhook"');
warned('no resolver', conf($GOOD, resolver => ''), 'webhook_delivery',
       'webhook_delivery: no "resolver" applies to location "/_webhook": attempts to endpoints given by host name will '
       . 'fail with no_resolver; add "resolver ADDRESS;" (e.g. to the http block)');

# Two for one zone would split its queue between two locations and settings.
refused('two webhook_delivery for one zone', conf($GOOD, server => 'webhook_delivery location=/_webhook allow_http=on;'),
        'webhook_delivery location=/_webhook allow_http=on',
        'webhook_delivery: zone "wz" already has the webhook_delivery in %%AT:webhook_delivery location=/_webhook;%%: one '
        . 'per zone; give this one another zone= (or remove it)');

# --- webhook_emit ------------------------------------------------------------------------------

refused('webhook_emit without webhook_delivery',
        conf('location /e { webhook_emit room.on_air; proxy_pass http://127.0.0.1:%%PORT2%%; }', delivery => '',
             resolver => ''), 'webhook_emit',
        'webhook_emit: zone "wz" has no webhook_delivery, so events would never be published; add "webhook_delivery '
        . 'zone=wz location=URI;" (and that location, with "proxy_pass $webhook_url;") (location "/e")');
accepted('webhook_emit with webhook_delivery',
         conf("$GOOD\n location /e { webhook_emit room.on_air; proxy_pass http://127.0.0.1:%%PORT2%%; }"));

# --- zone references resolved after the http block: at the directive's line ----------------------------------

my $two = "webhook_zone zone=b:1m;\n    webhook_delivery location=/_webhook;";
refused('webhook_delivery and two zones', conf($GOOD, delivery => $two), 'webhook_delivery',
        'webhook_delivery: zone=NAME is needed: the configuration has 2 webhook_zone directives');
refused('webhook_emit and two zones',
        conf("$GOOD\n location /e { webhook_emit room.on_air; proxy_pass http://127.0.0.1:%%PORT2%%; }",
             delivery => "webhook_zone zone=b:1m;\n    webhook_delivery zone=wz location=/_webhook;"), 'webhook_emit',
        'webhook_emit: zone=NAME is needed: the configuration has 2 webhook_zone directives (location "/e")');

done_testing;
