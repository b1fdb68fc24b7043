<?php
// The typed values of the value-format vectors (values.json), shared by make_vectors.php and
// check_memcoro_typed_values.php; test/unit/value/write_php_typed_values.cpp writes the same
// values with memcoro's encoder.

function typed_values(): array
{
    return [
        'string' => 'hello',
        'string_empty' => '',
        'string_binary' => "\x00\xff\r\n",
        'int_0' => 0,
        'int_42' => 42,
        'int_neg' => -7,
        'int_max' => PHP_INT_MAX,
        'int_min' => PHP_INT_MIN,
        'float_1_5' => 1.5,
        'float_0_1' => 0.1,
        'float_third' => 1 / 3,
        'float_100' => 100.0,
        'float_1e5' => 1e5,
        'float_1e6' => 1e6,
        'float_1e14' => 1e14,
        'float_1e15' => 1e15,
        'float_1e21' => 1e21,
        'float_1e25' => 1e25,
        'float_1e100' => 1e100,
        'float_0_001' => 0.001,
        'float_1e-4' => 1e-4,
        'float_1e-5' => 1e-5,
        'float_1e-7' => 1e-7,
        'float_123456_789' => 123456.789,
        'float_big' => 12345678901234567890.0,
        'float_neg' => -2.5,
        'float_zero' => 0.0,
        'float_neg_zero' => -0.0,
        'float_min_subnormal' => 5e-324,
        'float_max' => 1.7976931348623157e308,
        'float_inf' => INF,
        'float_neg_inf' => -INF,
        'float_nan' => NAN,
        'bool_true' => true,
        'bool_false' => false,
        'null' => null,
        'array' => [1, 'a' => 'b', 'list' => [1.5, true]],
        'array_large' => array_fill(0, 600, 'memcoro'),
        'string_large' => str_repeat('memcoro value ', 500),
        // php-memcached's threshold (2000) and PECL memcache's set to 100, each side of it.
        'string_1999' => str_repeat('a', 1999),
        'string_2000' => str_repeat('a', 2000),
        'string_99' => str_repeat('b', 99),
        'string_100' => str_repeat('b', 100),
    ];
}

// The type memcoro reports for a PHP value stored with the serializer named.
function memcoro_type($value, string $serializer): string
{
    if (is_string($value)) {
        return 'bytes';
    }
    if (is_int($value)) {
        return 'integer';
    }
    if (is_float($value)) {
        return 'floating';
    }
    if (is_bool($value)) {
        return 'boolean';
    }
    return $serializer;
}
