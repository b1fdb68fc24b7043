<?php
// The original values of the test vectors, shared by make_vectors.php and
// check_memcoro_values.php; test/unit/value/php_vectors.hpp generates the same in C++.

// x = x * 1103515245 + 12345 (mod 2^32); each step yields bits 16..23 of the new x.
function lcg_bytes(int $seed, int $n): string
{
    $x = $seed & 0xFFFFFFFF;
    $out = '';
    for ($i = 0; $i < $n; $i++) {
        $x = ($x * 1103515245 + 12345) & 0xFFFFFFFF;
        $out .= chr(($x >> 16) & 0xFF);
    }
    return $out;
}

// Words picked by the LCG (seed 7) from a list of 16, each followed by a space, until n bytes.
function words(int $n): string
{
    $list = ['memcached', 'cache', 'value', 'key', 'server', 'client', 'php', 'fastlz', 'zlib',
        'compress', 'flags', 'expire', 'get', 'set', 'delete', 'touch'];
    $x = 7;
    $out = '';
    while (strlen($out) < $n) {
        $x = ($x * 1103515245 + 12345) & 0xFFFFFFFF;
        $out .= $list[($x >> 16) & 15] . ' ';
    }
    return substr($out, 0, $n);
}

function text_lines(int $count): string
{
    $out = '';
    for ($i = 0; $i < $count; $i++) {
        $out .= "line $i: the quick brown fox jumps over the lazy dog\n";
    }
    return $out;
}

function originals(): array
{
    return [
        'text' => text_lines(100),                          // about 5.5 KB, level 1
        'words' => words(12000),                            // level 1, many short matches
        'run' => str_repeat('x', 3000),                     // level 1, long matches
        'far_repeat' => str_repeat(lcg_bytes(1, 20000), 4), // 80000 bytes: level 2, far
        'long_run' => str_repeat('y', 70000),               // level 2, lengths past 255
    ];
}

// Repeats at the edges of FastLZ's distances: 8191 (level 2's farthest near match), 8192
// (level 1's farthest, level 2's nearest far match), 65535 + 8190 (the compressor's farthest).
function edge_originals(): array
{
    return [
        'period_8191' => str_repeat(lcg_bytes(3, 8191), 3),
        'period_8192' => str_repeat(lcg_bytes(4, 8192), 3),
        'period_73725' => str_repeat(lcg_bytes(5, 73725), 2),
    ];
}
