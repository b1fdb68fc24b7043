<?php
// Stores the values write_php_values wrote (memcoro's FastLZ and zlib in php-memcached's
// format) in memcached with php-memcached's flags, over a plain socket, and reads them back with
// php-memcached, which must decompress them into the originals.
//
// Usage: php check_memcoro_values.php PORT DIR

require __DIR__ . '/generators.php';

$port = (int)$argv[1];
$dir = $argv[2];
$originals = originals() + edge_originals();
$flags = ['fastlz1' => 16 | 64, 'fastlz2' => 16 | 64, 'zlib' => 16 | 32];

$m = new Memcached();
$m->addServer('127.0.0.1', $port);
$s = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
if (!$s) {
    throw new RuntimeException("connect: $errstr");
}
$checked = 0;
$failed = 0;
foreach (glob("$dir/*.bin") as $file) {
    [$gen, $variant] = explode('.', basename($file, '.bin'));
    $data = file_get_contents($file);
    $key = "memcoro:check:$gen:$variant";
    fwrite($s, "set $key {$flags[$variant]} 0 " . strlen($data) . "\r\n$data\r\n");
    $reply = fgets($s);
    if ($reply !== "STORED\r\n") {
        throw new RuntimeException("set $key: $reply");
    }
    $value = $m->get($key);
    $checked++;
    if ($value !== $originals[$gen]) {
        $failed++;
        fwrite(STDERR, "MISMATCH $gen $variant: result " . $m->getResultMessage() . "\n");
    }
}
echo "$checked values read by php-memcached, $failed mismatches\n";
exit($checked > 0 && $failed == 0 ? 0 : 1);
