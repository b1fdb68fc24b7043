<?php
// Writes the test vectors of memcoro's value codecs: values stored by php-memcached (FastLZ and
// zlib) and by PECL memcache (zlib), read back raw from memcached over a plain socket.
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
