<?php
// The PHP side of test/integration/test_values.cpp: PHP's memcached clients and memcoro's value
// operations sharing one memcached.
//
//   php client_values.php write PORT   stores the values below with php-memcached (keys
//                                      "pm:NAME") and PECL memcache ("pc:NAME")
//   php client_values.php read PORT    reads "mc-pm:NAME" with php-memcached and "mc-pc:NAME"
//                                      with PECL memcache (what memcoro stored in their formats)
//                                      and prints a line per key: KEY TYPE VALUE, tab-separated,
//                                      VALUE as bin2hex() for strings, var_export() otherwise;
//                                      (php-memcached's miss is "KEY miss"; PECL memcache
//                                      cannot tell a miss from false)
//
// Both clients compress values of 2000 bytes and more (php-memcached's default threshold;
// PECL memcache set to it with setCompressThreshold(2000, 0.2)).

function values(): array
{
    return [
        's_short' => 'hello',
        's_empty' => '',
        's_long' => str_repeat('memcoro compresses this. ', 400),
        'i_pos' => 42,
        'i_neg' => -7,
        'i_max' => PHP_INT_MAX,
        'f_tenth' => 0.1,
        'f_big' => 1.0e25,
        'f_neg' => -2.5,
        'b_true' => true,
        'b_false' => false,
        'arr' => [1, 2, 3],
    ];
}

function show(string $key, $v): string
{
    return "$key\t" . gettype($v) . "\t" . (is_string($v) ? bin2hex($v) : var_export($v, true));
}

[$self, $mode, $port] = $argv;
$pm = new Memcached();
$pm->addServer('127.0.0.1', (int)$port);
$pm->setOption(Memcached::OPT_COMPRESSION, true);
$pc = new Memcache();
$pc->addServer('127.0.0.1', (int)$port);
$pc->setCompressThreshold(2000, 0.2);

if ($mode === 'write') {
    foreach (values() as $name => $v) {
        if (!$pm->set("pm:$name", $v)) {
            fwrite(STDERR, "php-memcached could not set pm:$name\n");
            exit(1);
        }
        if (!$pc->set("pc:$name", $v)) {
            fwrite(STDERR, "PECL memcache could not set pc:$name\n");
            exit(1);
        }
    }
    // User flags: php-memcached's OPT_USER_FLAGS, PECL memcache's flags argument.
    $pm->setOption(Memcached::OPT_USER_FLAGS, 7);
    $pm->set('pm:flagged', 'with flags');
    $pc->set('pc:flagged', 'with flags', 0x70000);
    exit(0);
}

foreach (array_keys(values()) as $name) {
    if ($name === 'arr') {
        continue;
    }
    $got = $pm->get("mc-pm:$name");
    if ($got === false && $pm->getResultCode() === Memcached::RES_NOTFOUND) {
        echo "mc-pm:$name\tmiss\n";
    } else {
        echo show("mc-pm:$name", $got), "\n";
    }
    $flags = 0;
    $got = $pc->get("mc-pc:$name", $flags);
    echo show("mc-pc:$name", $got), "\n";
}
