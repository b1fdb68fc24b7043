<?php
// The PHP side of test/integration/test_key_prefix_php.cpp: php-memcached with a key prefix
// (Memcached::OPT_PREFIX_KEY) over several servers, sharing them with memcoro.
//
//   php prefix_keys.php MODE PREFIX DIST HASH_WITH_PREFIX N HOST:PORT,HOST:PORT,...
//
// DIST: `ketama` (Memcached::OPT_LIBKETAMA_COMPATIBLE: weighted ketama, md5) or `modula`
// (php-memcached's default: modula, one-at-a-time). HASH_WITH_PREFIX: 1 sets libmemcached's
// MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY (php-memcached passes options it has no name for
// to libmemcached as behaviors), 0 leaves it off (the default).
//
//   write: stores "php<i>" => "from-php:<i>" for i < N, and prints "KEY\tHOST:PORT" per key
//          (Memcached::getServerByKey: where php-memcached places it)
//   read:  reads "mc<i>" for i < N in one getMulti and prints "KEY\tVALUE" or "KEY\tmiss"

const HASH_WITH_PREFIX_KEY = 25; // MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY

[$self, $mode, $prefix, $dist, $hash_with_prefix, $n, $servers] = $argv;
$m = new Memcached();
if ($dist === 'ketama') {
    $m->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true);
} elseif ($dist !== 'modula') {
    fwrite(STDERR, "unknown distribution $dist\n");
    exit(2);
}
if (!$m->setOption(Memcached::OPT_PREFIX_KEY, $prefix)) {
    fwrite(STDERR, "OPT_PREFIX_KEY refused: " . $m->getResultMessage() . "\n");
    exit(1);
}
if ($hash_with_prefix === '1') {
    $m->setOption(HASH_WITH_PREFIX_KEY, true);
    if ($m->getOption(HASH_WITH_PREFIX_KEY) != 1) {
        fwrite(STDERR, "MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY not set\n");
        exit(1);
    }
}
foreach (explode(',', $servers) as $s) {
    [$host, $port] = explode(':', $s);
    $m->addServer($host, (int)$port);
}

if ($mode === 'write') {
    for ($i = 0; $i < (int)$n; ++$i) {
        $key = "php$i";
        if (!$m->set($key, "from-php:$i")) {
            fwrite(STDERR, "could not set $key: " . $m->getResultMessage() . "\n");
            exit(1);
        }
        $where = $m->getServerByKey($key);
        echo "$key\t{$where['host']}:{$where['port']}\n";
    }
    exit(0);
}

$keys = [];
for ($i = 0; $i < (int)$n; ++$i) {
    $keys[] = "mc$i";
}
$got = $m->getMulti($keys);
if ($got === false) {
    fwrite(STDERR, "getMulti failed: " . $m->getResultMessage() . "\n");
    exit(1);
}
foreach ($keys as $key) {
    echo $key, "\t", array_key_exists($key, $got) ? $got[$key] : 'miss', "\n";
}
