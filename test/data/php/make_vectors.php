<?php
// Writes the test vectors of memcoro's value codecs and value formats: values stored by
// php-memcached (FastLZ and zlib) and by PECL memcache (zlib), read back raw from memcached over
// a plain socket (vectors.json and the .bin files); and typed values (strings, integers, floats,
// booleans, serialized arrays, compressed or not, with user flags, after memcached's incr and
// decr) stored by both clients, their flags and bytes (values.json).
//
// Usage: php make_vectors.php PORT OUTDIR   (make_vectors.sh starts the memcached)
//
// The originals are generated, not stored: test/unit/value/php_vectors.hpp implements the same
// generators, and vectors.json records each original's length and FNV-1a 64 hash.

if ($argc != 3) {
    fwrite(STDERR, "usage: php make_vectors.php PORT OUTDIR\n");
    exit(2);
}
$port = (int)$argv[1];
$outdir = $argv[2];

require __DIR__ . '/generators.php';
require __DIR__ . '/typed_values.php';
$originals = originals();

function raw_get(int $port, string $key): array
{
    $s = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
    if (!$s) {
        throw new RuntimeException("connect: $errstr");
    }
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
    $end = fgets($s);
    fclose($s);
    if ($end !== "END\r\n") {
        throw new RuntimeException("no END after $key");
    }
    return [(int)$m[2], substr($data, 0, $len)];
}

$vectors = [];
function record(array &$vectors, string $outdir, int $port, string $client, string $codec,
    string $name, string $original): void
{
    $key = "memcoro:$client:$codec:$name";
    [$flags, $raw] = raw_get($port, $key);
    $file = "$client.$codec.$name.bin";
    if (file_put_contents("$outdir/$file", $raw) !== strlen($raw)) {
        throw new RuntimeException("cannot write $outdir/$file");
    }
    $vectors[] = [
        'client' => $client,
        'codec' => $codec,
        'generator' => $name,
        'key' => $key,
        'flags' => $flags,
        'file' => $file,
        'stored_size' => strlen($raw),
        'original_size' => strlen($original),
        'original_fnv1a64' => hash('fnv1a64', $original),
    ];
}

// php-memcached: compression on (the default), threshold 2000 bytes (the default).
foreach (['fastlz' => Memcached::COMPRESSION_FASTLZ, 'zlib' => Memcached::COMPRESSION_ZLIB]
    as $codec => $type) {
    $m = new Memcached();
    $m->addServer('127.0.0.1', $port);
    $m->setOption(Memcached::OPT_COMPRESSION, true);
    $m->setOption(Memcached::OPT_COMPRESSION_TYPE, $type);
    foreach ($originals as $name => $value) {
        if (!$m->set("memcoro:php-memcached:$codec:$name", $value)) {
            throw new RuntimeException("set failed: " . $m->getResultMessage());
        }
        if ($m->get("memcoro:php-memcached:$codec:$name") !== $value) {
            throw new RuntimeException("php-memcached did not read back $codec:$name");
        }
        record($vectors, $outdir, $port, 'php-memcached', $codec, $name, $value);
    }
}

// PECL memcache: MEMCACHE_COMPRESSED asks for zlib.
$mc = new Memcache();
$mc->addServer('127.0.0.1', $port);
foreach (['text', 'words', 'far_repeat'] as $name) {
    $value = $originals[$name];
    if (!$mc->set("memcoro:pecl-memcache:zlib:$name", $value, MEMCACHE_COMPRESSED, 0)) {
        throw new RuntimeException("pecl memcache set failed");
    }
    if ($mc->get("memcoro:pecl-memcache:zlib:$name") !== $value) {
        throw new RuntimeException("pecl memcache did not read back $name");
    }
    record($vectors, $outdir, $port, 'pecl-memcache', 'zlib', $name, $value);
}

// Typed values: each PHP client stores them with a setting (serializer, compression, user
// flags); values.json records the flags and bytes memcached holds, the type memcoro must report,
// and what memcoro must return, computed by PHP: the bytes of a string, the text of an integer,
// the bits of a float (as the client reads it back), the serialized form of anything else.
function raw_command(int $port, string $line): string
{
    $s = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
    if (!$s) {
        throw new RuntimeException("connect: $errstr");
    }
    fwrite($s, "$line\r\n");
    $reply = fgets($s);
    fclose($s);
    return rtrim($reply, "\r\n");
}

function serialized_form($value, string $serializer): string
{
    switch ($serializer) {
        case 'php_serialized':
            return serialize($value);
        case 'igbinary':
            return igbinary_serialize($value);
        case 'json':
            return json_encode($value);
        case 'msgpack':
            return msgpack_pack($value);
    }
    throw new RuntimeException("unknown serializer $serializer");
}

$typed = [];
function record_typed(array &$typed, int $port, string $client, string $setting, string $name,
    $original, $readback, int $user_flags, string $serializer, string $key): void
{
    [$flags, $raw] = raw_get($port, $key);
    $type = memcoro_type($original, $serializer);
    $entry = [
        'client' => $client,
        'setting' => $setting,
        'name' => $name,
        'key' => $key,
        'flags' => $flags,
        'data_hex' => bin2hex($raw),
        'type' => $type,
        'user_flags' => $user_flags,
    ];
    switch ($type) {
        case 'bytes':
            $entry['bytes_hex'] = bin2hex($readback);
            break;
        case 'integer':
            $entry['integer'] = (string)$readback;
            break;
        case 'floating':
            $entry['double_hex'] = bin2hex(pack('E', $readback));
            $entry['original_double_hex'] = bin2hex(pack('E', $original));
            break;
        case 'boolean':
            $entry['boolean'] = $readback;
            break;
        default:
            $entry['bytes_hex'] = bin2hex(serialized_form($original, $serializer));
    }
    $typed[] = $entry;
}

$values = typed_values();
$compressible = ['array_large', 'string_large'];
$serialized_only = ['null', 'array', 'array_large'];
$memcached_settings = [
    // setting => [compression type, serializer, serializer name, user flags, value names]
    'fastlz' => [Memcached::COMPRESSION_FASTLZ, Memcached::SERIALIZER_PHP, 'php_serialized', 0,
        array_keys($values)],
    'zlib' => [Memcached::COMPRESSION_ZLIB, Memcached::SERIALIZER_PHP, 'php_serialized', 0,
        $compressible],
    'igbinary' => [Memcached::COMPRESSION_FASTLZ, Memcached::SERIALIZER_IGBINARY, 'igbinary', 0,
        $serialized_only],
    'json' => [Memcached::COMPRESSION_FASTLZ, Memcached::SERIALIZER_JSON, 'json', 0,
        $serialized_only],
    'msgpack' => [Memcached::COMPRESSION_FASTLZ, Memcached::SERIALIZER_MSGPACK, 'msgpack', 0,
        $serialized_only],
    'user_flags_7' => [Memcached::COMPRESSION_FASTLZ, Memcached::SERIALIZER_PHP, 'php_serialized',
        7, ['string', 'int_42', 'string_large']],
    'user_flags_65535' => [Memcached::COMPRESSION_ZLIB, Memcached::SERIALIZER_PHP,
        'php_serialized', 65535, ['float_0_1', 'array_large']],
];
foreach ($memcached_settings as $setting => [$compression, $serializer, $sname, $uf, $names]) {
    $m = new Memcached();
    $m->addServer('127.0.0.1', $port);
    $m->setOption(Memcached::OPT_COMPRESSION, true);
    $m->setOption(Memcached::OPT_COMPRESSION_TYPE, $compression);
    $m->setOption(Memcached::OPT_SERIALIZER, $serializer);
    $m->setOption(Memcached::OPT_USER_FLAGS, $uf);
    foreach ($names as $name) {
        $key = "memcoro:typed:php-memcached:$setting:$name";
        if (!$m->set($key, $values[$name])) {
            throw new RuntimeException("set $key: " . $m->getResultMessage());
        }
        $got = $m->get($key, null, Memcached::GET_EXTENDED);
        record_typed($typed, $port, 'php-memcached', $setting, $name, $values[$name],
            $got['value'], $got['flags'], $sname, $key);
    }
}

// PECL memcache: ini memcache.compress_threshold (20000) leaves these values uncompressed;
// MEMCACHE_COMPRESSED compresses those that shrink by 20 %.
$pecl_settings = [
    // setting => [flags of set, value names]
    'plain' => [0, array_keys($values)],
    'compressed' => [MEMCACHE_COMPRESSED, ['array_large', 'string_large', 'int_42']],
    'user_flags_0x10000' => [0x10000, ['string', 'float_third']],
    'user_flags_0xffff0000' => [0xFFFF0000 | MEMCACHE_COMPRESSED, ['array_large']],
];
$mc = new Memcache();
$mc->addServer('127.0.0.1', $port);
foreach ($pecl_settings as $setting => [$set_flags, $names]) {
    foreach ($names as $name) {
        $key = "memcoro:typed:pecl-memcache:$setting:$name";
        if (!$mc->set($key, $values[$name], $set_flags, 0)) {
            throw new RuntimeException("pecl memcache set $key failed");
        }
        $got_flags = 0;
        $got = $mc->get($key, $got_flags);
        record_typed($typed, $port, 'pecl-memcache', $setting, $name, $values[$name], $got,
            $got_flags & ~0xFFFF, 'php_serialized', $key);
    }
}

// PECL memcache with setCompressThreshold(100, 0.2): 100 bytes are compressed, 99 are not.
$mc_threshold = new Memcache();
$mc_threshold->addServer('127.0.0.1', $port);
$mc_threshold->setCompressThreshold(100, 0.2);
foreach (['string_99', 'string_100'] as $name) {
    $key = "memcoro:typed:pecl-memcache:threshold_100:$name";
    if (!$mc_threshold->set($key, $values[$name], 0, 0)) {
        throw new RuntimeException("pecl memcache set $key failed");
    }
    $got_flags = 0;
    $got = $mc_threshold->get($key, $got_flags);
    record_typed($typed, $port, 'pecl-memcache', 'threshold_100', $name, $values[$name], $got,
        $got_flags & ~0xFFFF, 'php_serialized', $key);
}

// memcached's incr and decr on the integers both clients store: decr rewrites a shorter number
// in place, padded with spaces ("10" - 1 is "9 "); the flags stay.
foreach (['php-memcached' => $m, 'pecl-memcache' => $mc] as $client => $conn) {
    foreach (['decr' => [10, 'decr', 1], 'incr' => [99, 'incr', 1]] as $setting => [$start, $op, $by]) {
        $key = "memcoro:typed:$client:$setting:int";
        if (!$conn->set($key, $start)) {
            throw new RuntimeException("set $key failed");
        }
        raw_command($port, "$op $key $by");
        $got = $conn->get($key);
        $uf = $client == 'php-memcached' ? 65535 : 0; // $m still has user flags 65535
        record_typed($typed, $port, $client, $setting, 'int', $got, $got, $uf, 'php_serialized',
            $key);
    }
}

$json = json_encode([
        'php' => PHP_VERSION,
        'php-memcached' => phpversion('memcached'),
        'pecl-memcache' => phpversion('memcache'),
        'values' => $typed,
    ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n";
if (file_put_contents("$outdir/values.json", $json) !== strlen($json)) {
    throw new RuntimeException("cannot write $outdir/values.json");
}
echo count($typed), " typed values written to $outdir\n";

$json = json_encode([
        'php' => PHP_VERSION,
        'php-memcached' => phpversion('memcached'),
        'pecl-memcache' => phpversion('memcache'),
        'vectors' => $vectors,
    ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n";
if (file_put_contents("$outdir/vectors.json", $json) !== strlen($json)) {
    throw new RuntimeException("cannot write $outdir/vectors.json");
}
echo count($vectors), " vectors written to $outdir\n";
