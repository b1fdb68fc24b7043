<?php
// Stores the values write_php_typed_values wrote (memcoro's encoder in php-memcached's and PECL
// memcache's formats) in memcached with the flags memcoro chose, over a plain socket, and reads
// them with the PHP client of the format. Each must equal what that client reads back after
// storing the same PHP value (typed_values.php) itself with the same setting, user flags
// included; where both stored it uncompressed, the flags and bytes must be the same too.
//
// Usage: php check_memcoro_typed_values.php PORT DIR

require __DIR__ . '/typed_values.php';

$port = (int)$argv[1];
$dir = $argv[2];
$values = typed_values();

function raw_set($s, string $key, int $flags, string $data): void
{
    fwrite($s, "set $key $flags 0 " . strlen($data) . "\r\n$data\r\n");
    $reply = fgets($s);
    if ($reply !== "STORED\r\n") {
        throw new RuntimeException("set $key: $reply");
    }
}

function raw_get($s, string $key): array
{
    fwrite($s, "get $key\r\n");
    $header = fgets($s);
    if (!preg_match('/^VALUE (\S+) (\d+) (\d+)\r\n$/', $header, $m)) {
        throw new RuntimeException("unexpected reply to get $key: $header");
    }
    $len = (int)$m[3];
    $data = '';
    while (strlen($data) < $len + 2) {
        $data .= fread($s, $len + 2 - strlen($data));
    }
    if (fgets($s) !== "END\r\n") {
        throw new RuntimeException("no END after $key");
    }
    return [(int)$m[2], substr($data, 0, $len)];
}

function same($a, $b): bool
{
    if (is_float($a) && is_float($b) && is_nan($a) && is_nan($b)) {
        return true;
    }
    if (is_float($a) && is_float($b) && $a == 0.0 && $b == 0.0) {
        return (fdiv(1, $a) > 0) === (fdiv(1, $b) > 0); // the sign of zero
    }
    return $a === $b;
}

$s = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
if (!$s) {
    throw new RuntimeException("connect: $errstr");
}
$m = new Memcached();
$m->addServer('127.0.0.1', $port);
$m->setOption(Memcached::OPT_COMPRESSION, true);
$mc = new Memcache();
$mc->addServer('127.0.0.1', $port);

$checked = 0;
$same_bytes = 0;
$failed = 0;
foreach (file("$dir/manifest.txt", FILE_IGNORE_NEW_LINES) as $line) {
    [$client, $name, $variant, $user_flags, $flags, $file] = explode(' ', $line);
    $data = file_get_contents("$dir/$file");
    $key = "memcoro:typed:$client:$variant:$name";
    $ref = "memcoro:reference:$client:$variant:$name";
    raw_set($s, $key, (int)$flags, $data);
    if ($client === 'php-memcached') {
        $m->setOption(Memcached::OPT_USER_FLAGS, (int)$user_flags);
        $m->setOption(Memcached::OPT_COMPRESSION, $variant !== 'plain');
        $m->setOption(Memcached::OPT_COMPRESSION_TYPE,
            $variant === 'zlib' ? Memcached::COMPRESSION_ZLIB : Memcached::COMPRESSION_FASTLZ);
        $m->set($ref, $values[$name]);
        $got = $m->get($key, null, Memcached::GET_EXTENDED);
        $want = $m->get($ref, null, Memcached::GET_EXTENDED);
        $ok = $got !== false && same($got['value'], $want['value']) &&
            $got['flags'] === (int)$user_flags;
        $compressed_bit = 0x10;
    } else {
        $set_flags = (int)$user_flags | ($variant === 'plain' ? 0 : MEMCACHE_COMPRESSED);
        $mc->set($ref, $values[$name], $set_flags, 0);
        $got_flags = 0;
        $want_flags = 0;
        $got = $mc->get($key, $got_flags);
        $want = $mc->get($ref, $want_flags);
        // PECL memcache reads a stored null back as false: the same for both.
        $ok = same($got, $want) && $got_flags === $want_flags;
        $compressed_bit = 0x02;
    }
    [$ref_flags, $ref_data] = raw_get($s, $ref);
    if (($ref_flags & $compressed_bit) == 0 && ((int)$flags & $compressed_bit) == 0) {
        if ($ref_flags !== (int)$flags || $ref_data !== $data) {
            $ok = false;
            fwrite(STDERR, "BYTES $client $variant $name: memcoro flags $flags " .
                json_encode($data) . ", PHP flags $ref_flags " . json_encode($ref_data) . "\n");
        } else {
            $same_bytes++;
        }
    }
    $checked++;
    if (!$ok) {
        $failed++;
        fwrite(STDERR, "MISMATCH $client $variant $name: read " . var_export($got, true) .
            ", expected " . var_export($want, true) . "\n");
    }
}
echo "$checked values read by the PHP clients ($same_bytes byte for byte as PHP stores them), " .
    "$failed mismatches\n";
exit($checked > 0 && $failed == 0 ? 0 : 1);
